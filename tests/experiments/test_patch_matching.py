import pytest
import torch

from fullconv.datasets.fashion_mnist import load_fashion_mnist
from fullconv.datasets.patches import synthetic_test_pairs
from fullconv.datasets.splits import split_seed
from fullconv.experiments import get
from fullconv.experiments.patch_matching import check_pattern, test_fpr95 as measure_fpr95
from fullconv.experiments.context import unit_key
from fullconv.experiments.runner import run_experiment
from fullconv.models.hardnet import HardNet
from fullconv.report import figures_for
from fullconv.training import load_checkpoint


@pytest.fixture(scope="module")
def ci_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    results = run_experiment("patch-matching", preset="ci", out=out, draw=figures_for)
    return results, out / "patch-matching" / results["units"]


def trained(units, border: str, triplets: int) -> HardNet:
    net = HardNet(border, width=4)
    state = load_checkpoint(units / unit_key(border=border, triplets=triplets, seed=0) / "checkpoint.pt")["model"]
    net.load_state_dict({key.removeprefix("net."): value for key, value in state.items()})
    return net.eval()


def test_rows_carry_the_required_keys(ci_run):
    results, _ = ci_run
    config = results["config"]
    assert len(results["rows"]) == len(config["borders"]) * len(config["triplets"])
    for row in results["rows"]:
        assert {"border", "triplets", "seed", "fpr95"} <= row.keys()
        assert 0.0 <= row["fpr95"] <= 1.0


def test_trained_descriptors_beat_chance_and_their_start(ci_run):
    results, folder = ci_run
    config = results["config"]
    test = synthetic_test_pairs(load_fashion_mnist(train=False)[0], config["test_pairs"], config["pair_seed"])
    most = max(config["triplets"])
    for border in config["borders"]:
        torch.manual_seed(split_seed(0, "init"))
        untrained = measure_fpr95(HardNet(border, width=4).eval(), test, torch.device("cpu"), 256)
        row = next(r for r in results["rows"] if r["border"] == border and r["triplets"] == most)
        # chance (random distances) accepts 95 % of the non-matching pairs
        assert row["fpr95"] < 0.5
        assert row["fpr95"] < untrained, (border, row["fpr95"], untrained)
        # the stored number is the one the saved weights give
        assert measure_fpr95(trained(folder, border, most), test, torch.device("cpu"), 256) == pytest.approx(row["fpr95"])


def test_trained_full_exact_hardnet_is_shift_equivariant(ci_run):
    _, folder = ci_run
    net = trained(folder, "full-exact", 128)
    patch = torch.randn(32, 32, generator=torch.Generator().manual_seed(0))
    canvases = torch.zeros(2, 1, 40, 40)
    canvases[0, 0, :32, :32] = patch - patch.mean()
    canvases[1, 0, 4:36, 4:36] = patch - patch.mean()
    with torch.no_grad():
        maps = net.feature_map(canvases)
    torch.testing.assert_close(maps[0, :, :-1, :-1], maps[1, :, 1:, 1:], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("fpr, reproduced", [
    ({("same", 25): 0.15, ("full", 25): 0.09, ("same", 500): 0.02, ("full", 500): 0.02}, True),
    ({("same", 25): 0.15, ("full", 25): 0.17, ("same", 500): 0.02, ("full", 500): 0.02}, False),
    ({("same", 25): 0.15, ("full", 25): 0.14, ("same", 500): 0.05, ("full", 500): 0.02}, False),
])
def test_check_pattern(fpr, reproduced):
    summary = [{"border": b, "triplets": t, "test": "x", "fpr95_mean": v} for (b, t), v in fpr.items()]
    assert check_pattern(summary)[0] is reproduced


def test_paper_preset_needs_phototour(tmp_path):
    with pytest.raises(FileNotFoundError, match="needs --data"):
        run_experiment(get("patch-matching"), preset="paper", out=tmp_path)
