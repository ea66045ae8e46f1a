import json

import pytest
import torch
import torch.nn as nn

from fullconv.convert import convert
from fullconv.experiments import get
from fullconv.experiments.action import PAPER, VARIANTS, check_pattern
from fullconv.experiments.runner import run_experiment
from fullconv.models.resnet3d import resnet3d
from fullconv.report import figures_for
from fullconv.report.action import paper_value, section

BACKGROUND = 0.3


def random_network(border: str, dims: str | None) -> nn.Module:
    """A small 3D ResNet with random weights and BatchNorm statistics, in float64, eval mode."""
    torch.manual_seed(0)
    model = resnet3d(10, 5, width=4, in_channels=1)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm3d):
            module.running_mean.normal_(0, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            nn.init.normal_(module.weight, 1.0, 0.3)
            nn.init.normal_(module.bias, 0.0, 0.3)
    nn.init.normal_(model.fc.weight)
    if border != "same":
        model = convert(model, border, dims=dims, background=BACKGROUND)
    return model.double().eval()


def clip_with_content_at(t: int, h: int, w: int, content: torch.Tensor, size=(24, 56, 56)) -> torch.Tensor:
    """(1, 1, T, H, W) clip of constant background with ``content`` (t', h', w') at (t, h, w)."""
    clip = torch.full((1, 1, *size), BACKGROUND, dtype=torch.float64)
    dt, dh, dw = content.shape
    clip[0, 0, t:t + dt, h:h + dh, w:w + dw] = content
    return clip


# The net's total stride: 8 in time (three stride-2 stages), 16 in height and width (stem and stages).
STRIDE_MULTIPLES = [(8, 16, 16), (8, 0, 0), (0, 16, 32), (16, 32, 16)]


@pytest.mark.parametrize("shift", STRIDE_MULTIPLES)
def test_full_exact_over_space_and_time_is_invariant_to_stride_shifts(shift):
    content = torch.rand(6, 18, 18, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    model = random_network("full-exact", "spacetime")
    with torch.no_grad():
        here = model(clip_with_content_at(1, 3, 5, content))
        there = model(clip_with_content_at(1 + shift[0], 3 + shift[1], 5 + shift[2], content))
    torch.testing.assert_close(here, there, rtol=0, atol=1e-10)
    assert here.abs().max() > 1e-3  # the logits are not trivially equal


@pytest.mark.parametrize("border, dims, shift", [
    ("full-exact", "spacetime", (1, 16, 16)),   # not a multiple of the time stride
    ("full-exact", "spacetime", (8, 16, 5)),    # not a multiple of the space stride
    ("full-exact", "spatial", (8, 16, 16)),     # time is zero-padded `same`: sees the clip's ends
    ("full", "spacetime", (8, 16, 16)),         # zero padding differs from the background
    ("same", None, (8, 16, 16)),
])
def test_other_shifts_and_variants_change_the_logits(border, dims, shift):
    """The invariance above is not vacuous: these change the logits by far more than rounding."""
    content = torch.rand(6, 18, 18, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    model = random_network(border, dims)
    with torch.no_grad():
        here = model(clip_with_content_at(1, 3, 5, content))
        there = model(clip_with_content_at(1 + shift[0], 3 + shift[1], 5 + shift[2], content))
    assert (here - there).abs().max() > 1e-6


def test_ci_run_rows_curves_and_report(tmp_path):
    results = run_experiment("action", preset="ci", out=tmp_path, draw=figures_for)
    cfg = get("action").config_cls
    rows = results["rows"]
    assert [(r["border"], r["dims"]) for r in rows] == [tuple(v.split(":")) for v in VARIANTS]
    for row in rows:
        assert {"depth", "border", "dims", "seed", "train_acc", "val_acc"} <= row.keys()
        assert row["depth"] == 10 and row["seed"] == 0 and row["dataset"] == "moving"
        assert len(row["curve_train_acc"]) == len(row["curve_val_acc"]) == results["config"]["train"]["epochs"] == 2
        assert row["val_acc"] == row["curve_val_acc"][-1] and 0 <= row["val_acc"] <= 100
    assert len(results["summary"]) == len(VARIANTS) and all(s["n"] == 1 for s in results["summary"])
    assert isinstance(results["pattern"]["reproduced"], bool)
    folder = tmp_path / "action"
    assert json.loads((folder / "results.json").read_text())["rows"] == rows
    assert (folder / "action_moving_resnet10.png").stat().st_size > 0
    # The config's defaults are the paper's protocol.
    assert cfg().datasets == ("ucf101", "hmdb51") and cfg().depths == (18, 34, 50) and cfg().frames == 16
    # A second run reuses the cached units: identical rows.
    assert run_experiment("action", preset="ci", out=tmp_path)["rows"] == rows
    assert "moving items" in section(results)


def test_check_pattern_and_paper_lookup():
    summary = [{"dataset": "ucf101", "depth": 18, "border": b, "dims": d, "val_acc_mean": acc}
               for b, d, acc in (("same", "spacetime", 38.6), ("full", "spatial", 40.6), ("full", "spacetime", 42.2))]
    assert check_pattern(summary)[0]
    summary[1]["val_acc_mean"] = 30.0
    reproduced, detail = check_pattern(summary)
    assert not reproduced and "1/2" in detail
    assert paper_value(PAPER, summary[2]) == 42.2
    assert paper_value(PAPER, {"dataset": "hmdb51", "depth": 50, "border": "full", "dims": "spatial"}) == 19.0
    assert paper_value(PAPER, {"dataset": "moving", "depth": 10, "border": "same", "dims": "spacetime"}) is None


def test_paper_preset_needs_data():
    with pytest.raises(ValueError, match="pass --data PATH"):
        get("action").run(get("action").config_cls(), type("Ctx", (), {"data": None})())


def test_paper_preset_is_the_papers_protocol():
    """Kayhan & van Gemert's action_recognition code (opts.py, README commands, resnet_fconv_tem.py)."""
    from fullconv.experiments.action import build_model
    from fullconv.experiments.runner import build_config

    cfg = build_config(get("action"), "paper")
    assert cfg.datasets == ("ucf101", "hmdb51") and cfg.depths == (18, 34, 50) and cfg.fold == 1
    assert (cfg.frames, cfg.size, cfg.train_crop, cfg.flip) == (16, 112, "corner", True)
    assert (cfg.stem, cfg.full_time_stride, cfg.linear_init, cfg.head, cfg.width) == ("hara", 2, "default", "gap", 64)
    tc = cfg.train
    assert (tc.optimizer, tc.lr, tc.momentum, tc.dampening, tc.weight_decay) == ("sgd", 0.1, 0.9, 0.9, 1e-3)
    assert (tc.schedule, tc.plateau_patience, tc.batch_size, tc.epochs) == ("plateau", 10, 32, 200)
    same = build_model(cfg, "ucf101", 18, "same", "spacetime", 0, 101, 3)
    full_st = build_model(cfg, "ucf101", 18, "full", "spacetime", 0, 101, 3)
    full_s = build_model(cfg, "ucf101", 18, "full", "spatial", 0, 101, 3)
    assert same.stem[0].kernel_size == (7, 7, 7) and same.stem[0].stride == (1, 2, 2)
    assert isinstance(same.stem[3], nn.MaxPool3d) and same.layer2[0].downsample[0].kernel_size == (1, 1, 1)
    assert full_st.stem[0].stride == (2, 2, 2) and full_s.stem[0].stride == (1, 2, 2)
    # Every variant of a seed starts from the same weights (the time stride leaves shapes alone).
    torch.testing.assert_close(full_st.stem[0].weight, same.stem[0].weight)
    bound = 1 / 512 ** 0.5
    weight = same.fc.weight.detach()
    assert weight.abs().max() <= bound and float(weight.std()) == pytest.approx(bound / 3 ** 0.5, rel=0.05)


def test_clip_transform_multi_scale_corner_crops():
    from fullconv.datasets.video import CORNER_SCALES, ClipTransform

    frames = torch.randint(0, 256, (4, 3, 128, 171), dtype=torch.uint8)
    transform = ClipTransform(train=True, crop="corner", flip=False)
    torch.manual_seed(0)
    clips = [transform(frames) for _ in range(20)]
    assert all(c.shape == (3, 4, 112, 112) for c in clips)
    assert len({c.sum().item() for c in clips}) > 3  # several scales / corners were drawn
    assert CORNER_SCALES[0] == 1.0 and CORNER_SCALES[-1] == pytest.approx(0.5, rel=1e-6)
    with pytest.raises(ValueError, match="unknown clip crop"):
        ClipTransform(train=True, crop="five")


def test_quick_preset_crops_without_flips_and_compares_same_with_full_over_space_and_time():
    from fullconv.datasets.augment import RandomCrops
    from fullconv.experiments.action import make_data
    from fullconv.experiments.runner import build_config

    cfg = build_config(get("action"), "quick")
    assert cfg.variants == ("same:spacetime", "full:spacetime") and cfg.val_clips >= 600 and not cfg.flip
    assert cfg.noise <= 0.05 and cfg.head == "bnneck" and cfg.full_time_stride == 2
    small = build_config(get("action"), "quick", ["train_clips=12", "val_clips=6"])
    train, val, classes, channels = make_data(small, "moving", None, 0)
    assert isinstance(train, RandomCrops) and not train.flip and train[0][0].shape == (1, 16, 32, 32)
    assert val.x.shape[1:] == (1, 16, 32, 32) and classes == 6 and channels == 1
