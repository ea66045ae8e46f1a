from fullconv.experiments.quadrant import PAPER
from fullconv.report.quadrant import curves, figures, init_label


def _results():
    rows, summary = [], []
    for arch in ("resnet18-w8", "bagnet33"):
        for init, border in (("scratch", "same"), ("pretrained", "same"), ("scratch", "full-exact")):
            for frame in (0, 16):
                rows.append({"arch": arch, "init": init, "border": border, "frame": frame, "seed": 0,
                             "pretrained_on": "fashion-mnist" if init == "pretrained" else None, "test_acc": 50.0})
                summary.append({"arch": arch, "init": init, "border": border, "frame": frame,
                                "test_acc_mean": 50.0 + frame, "test_acc_std": 0.0, "n": 1})
    return {"config": {"canvas": 60, "item": 28}, "rows": rows, "summary": summary, "paper": PAPER}


def test_one_figure_per_architecture(tmp_path):
    paths = figures(_results(), tmp_path)
    assert sorted(p.name for p in paths) == ["quadrant_bagnet33.png", "quadrant_resnet18-w8.png"]
    assert all(p.stat().st_size > 0 for p in paths)


def test_lines_per_init_and_border_sorted_by_frame():
    lines = curves(_results())["bagnet33"]
    assert set(lines) == {("scratch", "same", None), ("pretrained", "same", "fashion-mnist"),
                          ("scratch", "full-exact", None)}
    assert lines[("scratch", "same", None)] == [(0, 50.0, 0.0), (16, 66.0, 0.0)]


def test_fashion_mnist_backbone_is_never_called_imagenet():
    assert init_label("pretrained", "fashion-mnist") == "pretrained (Fashion-MNIST)"
    assert init_label("pretrained", "imagenet") == "pretrained (ImageNet)"
