import pytest
import torch

from fullconv.datasets.quadrant import QuadrantCanvas
from fullconv.experiments.pretrain import imagenet_state, load_backbone
from fullconv.experiments.quadrant import Config, check_config, check_pattern, input_background, quadrant_model
from fullconv.experiments.runner import run_experiment
from fullconv.report import figures_for


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return run_experiment("quadrant", preset="ci", out=tmp_path_factory.mktemp("runs"), device="cpu", draw=figures_for)


def _row(results, border):
    (row,) = [r for r in results["rows"] if r["border"] == border and r["init"] == "scratch" and r["frame"] == 0]
    return row


def test_same_from_scratch_locates_the_patch(results):
    assert _row(results, "same")["test_acc"] >= 95.0


def test_full_exact_is_exactly_at_chance(results):
    assert _row(results, "full-exact")["test_acc"] == 50.0
    assert results["pattern"]["reproduced"], results["pattern"]["detail"]


def test_figure_per_architecture(results, tmp_path):
    assert results["figures"] == ["quadrant_resnet18-w8.png"]


@pytest.mark.parametrize("arch, item, canvas, native", [("resnet18-w8", 14, 46, "same"), ("bagnet33", 24, 48, "valid")])
@pytest.mark.parametrize("frame", [0, 8])
def test_full_exact_gives_identical_logits_for_both_classes(arch, item, canvas, native, frame):
    cfg = Config(frame_colour="black")
    images = torch.rand(2, 3, item, item)
    data = QuadrantCanvas(images, canvas=canvas, frame=frame)  # class offset: a multiple of the total stride
    x = torch.stack([data[i][0] for i in range(len(data))])
    torch.manual_seed(0)
    exact = quadrant_model(arch, "full-exact", input_background(cfg, frame), None).eval()
    torch.manual_seed(0)
    published = quadrant_model(arch, native, input_background(cfg, frame), None).eval()
    with torch.no_grad():
        logits, published_logits = exact(x), published(x)
    assert torch.equal(logits[:2], logits[2:])
    assert not torch.allclose(published_logits[:2], published_logits[2:])  # the published border gives location away


def test_check_pattern_flags_a_full_exact_off_chance():
    summary = [
        {"arch": "a", "init": "scratch", "border": "same", "frame": 0, "test_acc_mean": 100.0},
        {"arch": "a", "init": "scratch", "border": "full-exact", "frame": 0, "test_acc_mean": 50.5},
    ]
    reproduced, detail = check_pattern(summary)
    assert not reproduced and "full-exact" in detail
    summary[1]["test_acc_mean"] = 50.0
    assert check_pattern(summary)[0]


def test_check_pattern_wants_scratch_over_pretrained_over_random():
    def summary(pretrained_128, random_128):
        rows = [{"arch": "a", "init": "scratch", "border": "same", "frame": 0, "test_acc_mean": 100.0}]
        for init, at_128 in (("scratch", 100.0), ("pretrained", pretrained_128), ("random", random_128)):
            rows += [{"arch": "a", "init": init, "border": "same", "frame": frame, "test_acc_mean": value}
                     for frame, value in ((64, 99.0), (128, at_128))]
        return rows

    assert check_pattern(summary(pretrained_128=80.0, random_128=55.0))[0]
    reproduced, detail = check_pattern(summary(pretrained_128=55.0, random_128=80.0))
    assert not reproduced and "pretrained (77.0) below random (89.5)" in detail


def test_bad_configurations_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="multiple of resnet18's total stride 32"):
        check_config(Config(archs=("resnet18",), item=28, canvas=50))
    with pytest.raises(FileNotFoundError, match="--weights PATH"):
        imagenet_state("bagnet33", None)
    with pytest.raises(FileNotFoundError, match="not found"):
        imagenet_state("resnet18", tmp_path / "missing.pth")
    model = quadrant_model("resnet18-w8", "same", [0.0, 0.0, 0.0], None)
    with pytest.raises(ValueError, match="do not fit"):
        load_backbone(model, quadrant_model("resnet18-w16", "same", [0.0] * 3, None).state_dict(), "fc")
