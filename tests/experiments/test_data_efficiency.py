import json

import pytest
import torch

from fullconv.datasets.fashion_mnist import load_fashion_mnist
from fullconv.datasets.subsets import ALL
from fullconv.experiments import get
from fullconv.datasets.shifted import placed
from fullconv.experiments.config import build
from fullconv.experiments.data_efficiency import Config, check_config, check_pattern, repeats
from fullconv.experiments.runner import run_experiment
from fullconv.report import figures_for


@pytest.fixture(scope="module")
def ci_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    results = run_experiment("data-efficiency", preset="ci", out=out, draw=figures_for)
    return results, out / "data-efficiency"


def test_rows_carry_the_required_keys(ci_run):
    results, _ = ci_run
    config = results["config"]
    assert len(results["rows"]) == len(config["borders"]) * len(config["per_class"]) * config["seeds"]
    for row in results["rows"]:
        assert {"border", "per_class", "seed", "acc"} <= row.keys()
        assert row["n_train"] == row["per_class"] * 10
        assert 0.0 <= row["acc"] <= 100.0


def test_trained_models_beat_chance(ci_run):
    results, _ = ci_run
    largest = max(results["config"]["per_class"])
    for row in results["rows"]:
        if row["per_class"] == largest:
            assert row["acc"] > 20.0, row  # 10 classes: chance is 10 %


def test_subsets_saved_nested_and_balanced(ci_run):
    results, folder = ci_run
    saved = json.loads((folder / "subsets.json").read_text())
    labels = load_fashion_mnist(train=True)[1]
    sizes = sorted(int(n) for n in saved["subsets"])
    assert sizes == sorted(results["config"]["per_class"])
    for small, large in zip(sizes, sizes[1:]):
        assert set(saved["subsets"][str(small)]) < set(saved["subsets"][str(large)])
    for n in sizes:
        counts = torch.bincount(labels[saved["subsets"][str(n)]], minlength=10)
        assert counts.tolist() == [n] * 10
    assert not set(saved["validation"]) & set(saved["subsets"][str(sizes[-1])])


def test_summary_and_figure(ci_run):
    results, folder = ci_run
    assert {(row["border"], row["per_class"]) for row in results["summary"]} == {
        (b, n) for b in results["config"]["borders"] for n in results["config"]["per_class"]}
    assert (folder / "data_efficiency.png").exists()


def summary(differences: dict[int, float]) -> list[dict]:
    rows = []
    for n, difference in differences.items():
        rows += [{"border": "same", "per_class": n, "acc_mean": 50.0},
                 {"border": "full", "per_class": n, "acc_mean": 50.0 + difference}]
    return rows


@pytest.mark.parametrize("differences, reproduced", [
    ({50: 4.8, 100: 3.4, ALL: 0.0}, True),      # the paper's pattern
    ({50: 2.0, ALL: 3.0}, False),               # ahead, but more so with more data
    ({50: -1.0, ALL: -2.0}, False),             # behind on little data
    ({10: 0.75, 50: 0.7, 500: 0.68}, False),    # ahead everywhere by less than seed noise
    ({10: -1.0, 50: 7.6, 100: 4.4, 500: 1.0}, True),  # one small subset behind, ahead on average
])
def test_check_pattern(differences, reproduced):
    assert check_pattern(summary(differences))[0] is reproduced


def test_small_subsets_are_repeated_to_reach_min_steps():
    cfg = build(Config, {"train.epochs": 4, "min_steps": 80, "train.batch_size": 64})
    assert repeats(cfg, 100) * 100 * 4 >= 80 * 64 > (repeats(cfg, 100) - 1) * 100 * 4
    assert repeats(cfg, 50000) == 1


def test_paper_preset_needs_imagenet(tmp_path):
    with pytest.raises(FileNotFoundError, match="needs --data"):
        run_experiment(get("data-efficiency"), preset="paper", out=tmp_path)


def test_placed_items_sit_whole_at_a_fixed_seeded_position():
    items = torch.randint(1, 256, (50, 28, 28), dtype=torch.uint8)
    pool = placed(items, torch.arange(50), canvas=40, seed=3, split="train")
    (one, _), (many, labels) = pool.take(torch.tensor([7])), pool.take(torch.tensor([2, 7, 9]))
    assert torch.equal(one[0], many[1]) and labels.tolist() == [2, 7, 9]  # the same place in every subset
    assert torch.equal(pool[7][0], one[0])
    top, left = pool.positions[7].tolist()
    assert 0 <= top <= 12 and 0 <= left <= 12
    assert torch.equal(one[0, 0, top:top + 28, left:left + 28], items[7].float() / 255)
    outside = one[0, 0].clone()
    outside[top:top + 28, left:left + 28] = 0
    assert not outside.any()  # black elsewhere
    assert len(set(map(tuple, pool.positions.tolist()))) > 25  # positions vary across items
    again = placed(items, torch.arange(50), canvas=40, seed=3, split="train")
    assert torch.equal(again.positions, pool.positions)
    assert not torch.equal(placed(items, torch.arange(50), 40, seed=3, split="test").positions, pool.positions)


def test_canvas_smaller_than_the_items_is_a_clear_error():
    with pytest.raises(ValueError, match="at least its 28 px"):
        check_config(Config(source="fashion-mnist", arch="small-resnet", canvas=20))


def test_paper_preset_is_the_papers_protocol():
    """Exp4_data_efficiency/imagenet_classification: ResNet-50, 2×2 stem pool for full, the 90-epoch ImageNet recipe."""
    from fullconv.experiments.data_efficiency import build_model, Source
    from fullconv.experiments.runner import build_config

    cfg = build_config(get("data-efficiency"), "paper")
    assert (cfg.source, cfg.arch, cfg.borders, cfg.head) == ("imagenet", "resnet50", ("same", "full"), "gap")
    assert cfg.per_class == (50, 100, 250, 500, ALL) and cfg.image_size == 224
    tc = cfg.train
    assert (tc.optimizer, tc.lr, tc.momentum, tc.weight_decay, tc.batch_size) == ("sgd", 0.1, 0.9, 1e-4, 256)
    assert (tc.schedule, tc.step_size, tc.gamma, tc.epochs) == ("step", 30, 0.1, 90)
    source = Source(None, None, None, None, 10, 3)
    full = build_model(cfg, "full", source, 0)
    assert (full.maxpool.kernel_size, full.maxpool.stride) == ((2, 2), (2, 2))
    assert build_model(cfg, "same", source, 0).maxpool.kernel_size == 3


def test_subsets_from_a_path_list(tmp_path):
    """--set subsets=PATH: the listed images form the one subset; validation comes from the others."""
    import pickle

    from PIL import Image

    from fullconv.experiments.data_efficiency import imagenet_source, listed_subset
    from fullconv.experiments.runner import build_config

    for split in ("train", "val"):
        for label in ("cat", "dog"):
            (tmp_path / split / label).mkdir(parents=True)
            for i in range(4):
                Image.new("RGB", (8, 8)).save(tmp_path / split / label / f"{i}.png")
    listed = [f"/somewhere/train/{label}/{i}.png" for label in ("cat", "dog") for i in (0, 2)]
    (tmp_path / "list.pkl").write_bytes(pickle.dumps(listed))
    cfg = build_config(get("data-efficiency"), "paper", [f"subsets={tmp_path / 'list.pkl'}", "val_per_class=1"])
    source = imagenet_source(cfg, str(tmp_path))
    drawn = listed_subset(source, cfg)
    [(per_class, chosen)] = drawn.subsets.items()
    names = sorted("/".join(source.train.samples[i][0].split("/")[-2:]) for i in chosen.tolist())
    assert per_class == 2 and names == ["cat/0.png", "cat/2.png", "dog/0.png", "dog/2.png"]
    assert len(drawn.validation) == 2 and not set(drawn.validation.tolist()) & set(chosen.tolist())
    (tmp_path / "bad.json").write_text(json.dumps(["train/cow/9.png"]))
    with pytest.raises(ValueError, match="not in the training folder"):
        listed_subset(source, build_config(get("data-efficiency"), "paper", [f"subsets={tmp_path / 'bad.json'}"]))


def test_effects_judge_the_small_data_mean_paired_by_seed():
    from fullconv.experiments.data_efficiency import effects
    from fullconv.experiments.results import effects_pattern
    from fullconv.report.data_efficiency import paper_effects

    def rows(gain):
        return [{"border": b, "per_class": n, "seed": s, "acc": 50 + n / 10 + 5 * s + (gain(s) if b == "full" and n < 100 else 0.0)}
                for b in ("same", "full") for n in (10, 25, 100) for s in range(4)]
    pattern = effects_pattern(effects(rows(lambda s: 3.0 + 0.3 * s)))
    claim = next(e for e in pattern["effects"] if e["claim"])
    assert claim["comparison"] == "full − same, mean over 10, 25 per class" and claim["n_seeds"] == 4
    assert claim["mean_diff"] == pytest.approx(3.45) and pattern["verdict"] == "reproduced"
    # Seed noise (a 5-point spread between seeds) cancels in the pairing; a gain of ±3 does not.
    assert effects_pattern(effects(rows(lambda s: 3.0 * (-1) ** s)))["verdict"] == "not resolved"
    assert effects_pattern(effects(rows(lambda s: -2.0 - 0.1 * s)))["verdict"] == "contradicted"
    assert paper_effects({"paper": get("data-efficiency").paper, "pattern": pattern})[
        "acc|full − same, mean over 10, 25 per class"] == pytest.approx((4.8 + 3.4 + 3.2 + 1.3) / 4)
