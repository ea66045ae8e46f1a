"""benchmarks/gpu_smoke.py --device cpu --tiny: every paper preset runs its real code path on generated data."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_smoke  # noqa: E402
from fullconv.experiments import all_experiments  # noqa: E402

LINE = re.compile(r"^(?P<name>\S+)\s+steps=(?P<steps>\d+)\s+steps/s=(?P<rate>\S+)\s+images/s=(?P<images>\S+)\s+"
                  r"peak_mem=(?P<memory>\S+)\s+loss=(?P<loss>\S+)\s+wall_s=(?P<wall>[0-9.]+)$")


def cpu_env() -> dict:
    # one thread: small convolutions on a shared CPU lose more to thread synchronisation than they gain
    return dict(os.environ, FULLCONV_PROGRESS="0", OMP_NUM_THREADS="1",
                PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))


def test_table_covers_every_experiment():
    assert set(gpu_smoke.SMOKE) == {experiment.name for experiment in all_experiments()}


@pytest.mark.slow
def test_tiny_cpu_run_gives_one_parsed_line_per_paper_preset():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_smoke.py"), "--device", "cpu", "--tiny"],
                          capture_output=True, text=True, env=cpu_env(), timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [LINE.match(line) for line in done.stdout.splitlines()[:-1]]
    assert all(lines), done.stdout
    rows = {m["name"]: m for m in lines}
    assert list(rows) == list(gpu_smoke.SMOKE)
    for name, row in rows.items():
        assert row["memory"] == "n/a"                      # CPU: no GPU memory to report
        if name == "conv-types":                           # exact, nothing trains
            assert (row["steps"], row["loss"]) == ("0", "n/a")
            continue
        assert int(row["steps"]) >= 2, name
        assert row["loss"] == "finite", name
        assert float(row["rate"]) > 0 and float(row["images"]) >= float(row["rate"]), name
    assert done.stdout.splitlines()[-1] == f"{len(rows)}/{len(rows)} paper presets ran with finite losses"


def test_step_meter_counts_every_training_step_and_its_images(tmp_path):
    import torch
    import torch.nn as nn

    from fullconv.training import InMemory, TrainConfig, fit

    x, y = torch.randn(10, 3, 8, 8), torch.randint(0, 2, (10,))
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    with gpu_smoke.StepMeter(torch.device("cpu"), gpu_smoke.batch_images) as meter:
        fit(model, InMemory(x, y), InMemory(x, y), TrainConfig(epochs=2, batch_size=4), run_dir=tmp_path,
            device="cpu", seed=0, progress=False)
    assert meter.counts == [4, 4, 2, 4, 4, 2]             # batches of 4, 4, 2 in each epoch; evaluation not counted
    assert len(meter.seconds) == 6 and all(s > 0 for s in meter.seconds)
    fit(model, InMemory(x, y), None, TrainConfig(epochs=1, batch_size=4), run_dir=tmp_path / "after", device="cpu",
        seed=0, progress=False)
    assert len(meter.counts) == 6                          # hooks removed on exit


def test_loss_check_flags_a_non_finite_logged_loss(tmp_path):
    unit = tmp_path / "units" / "a"
    unit.mkdir(parents=True)
    (unit / "log.jsonl").write_text('{"train_loss": 0.5, "val_loss": 0.7}\n{"train_loss": [0.4, 0.3], "val_loss": null}\n')
    assert gpu_smoke.logged_losses(tmp_path) == [0.5, 0.7, 0.4, 0.3]
    meter = gpu_smoke.StepMeter(None, gpu_smoke.batch_images, [0.5, 0.5], [8, 8])
    assert "loss=finite" in gpu_smoke.smoke_line("x", meter, gpu_smoke.logged_losses(tmp_path), None, 1.0)
    (unit / "log.jsonl").write_text('{"train_loss": 0.5, "val_loss": NaN}\n')
    line = gpu_smoke.smoke_line("x", meter, gpu_smoke.logged_losses(tmp_path), 3 * 2 ** 30, 1.0)
    assert "loss=NOT-FINITE" in line and "steps/s=2 " in line and "images/s=16 " in line and "peak_mem=3.00GiB" in line


def test_generated_phototour_and_frames_are_read_by_the_presets_readers(tmp_path):
    import smoke_data
    import torch

    from fullconv.datasets.patches import phototour_test_pairs, phototour_training_pairs
    from fullconv.datasets.video import FrameClips

    root = smoke_data.phototour(tmp_path / "pt", ("liberty",), points=300, per_point=2, pairs=40, seed=0)
    pairs = phototour_training_pairs(root, "liberty", 16, seed=0)
    assert pairs.shape == (16, 2, 32, 32) and pairs.dtype == torch.uint8
    test = phototour_test_pairs(root, "liberty")
    assert len(test.pairs) == 40 and test.pairs[::2, 2].eq(1).all()   # every other pair matches
    assert len(list((root / "liberty").glob("*.bmp"))) == 3             # 600 patches: 256 per sheet

    frames = smoke_data.ucf_frames(tmp_path / "frames", 3, {"train": 2, "test": 1}, 5, (64, 48), seed=0)
    for dataset in ("ucf101", "hmdb51"):
        train, test = (FrameClips(frames, dataset, train=flag, frames_per_clip=4) for flag in (True, False))
        assert len(train) == 6 and len(test) == 3 and train.classes == test.classes
        clip, label = train[5]
        assert clip.shape == (3, 4, 112, 112) and label == 2


@pytest.mark.parametrize("mode", ["paper", "tiny"])
def test_every_override_names_a_field_of_its_experiments_config(mode):
    from fullconv.experiments.config import canonical_key, get_value
    from fullconv.experiments.registry import get
    from fullconv.experiments.runner import build_config

    for name, spec in gpu_smoke.SMOKE.items():
        sets = [item.format(**gpu_smoke.DATA[mode]) for item in getattr(spec, mode)]
        config = build_config(get(name), "paper", sets)   # raises on an unknown field or a bad value
        for item in sets:
            key = canonical_key(type(config), item.partition("=")[0])  # a flat training key is train.<key>
            assert get_value(config, key) != get_value(build_config(get(name), "paper"), key), (
                f"{name}: --set {item} does not change the paper preset")
