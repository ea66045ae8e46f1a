"""Effect figures and tables: intervals drawn, the paper's effect beside them, losses compared to same's twin."""
import pytest

from fullconv.experiments.results import effects_pattern
from fullconv.experiments.stats import paired_effect
from fullconv.report import data_efficiency, shift
from fullconv.report.effects import loss_gaps, resolution_sentence


def _results():
    rows = [{"arch": "resnet18", "border": b, "blurpool": p, "seed": s,
             "consistency": 80.0 + s + (2.0 + 0.2 * s if b == "full" else 0.0),
             "diagonal_acc": 70.0 + s + (1.0 if b == "full" else 0.0), "acc": 60.0, "diagonal_curve": [1.0],
             "train_loss": 1.0 if b == "same" else 1.05}
            for b in ("same", "full") for p in (False, True) for s in range(3)]
    effects = [paired_effect(m, f"resnet18 full − same{' (BlurPool)' if p else ''}",
                             {r["seed"]: r[m] for r in rows if r["border"] == "full" and r["blurpool"] == p},
                             {r["seed"]: r[m] for r in rows if r["border"] == "same" and r["blurpool"] == p})
               for m in ("consistency", "diagonal_acc") for p in (False, True)]
    from fullconv.experiments.shift import PAPER
    return {"rows": rows, "summary": [], "paper": PAPER, "pattern": effects_pattern(effects)}


def test_shift_effects_section_and_figure(tmp_path):
    results = _results()
    paper = shift.paper_effects(results)
    assert paper["consistency|resnet18 full − same"] == 88.38 - 86.43
    assert paper["diagonal_acc|resnet18 full − same (BlurPool)"] == 83.95 - 81.96
    html = shift.section(results)
    assert "95 % interval" in html and "reproduced" in html and "largest gap to same is 5 %" in html
    assert "resolves effects larger than about" in resolution_sentence(results)
    paths = shift.figures(results, tmp_path)
    assert {p.name for p in paths} == {"shift_diagonal.png", "shift_effects.png"}
    assert all(p.stat().st_size > 0 for p in paths)
    # gaps compare each variant with same of its own BlurPool setting
    assert loss_gaps(results, ("arch", "border", "blurpool"), {"border": "same"}) == pytest.approx([0.05, 0.05])


def test_one_seed_says_it_cannot_resolve():
    results = {"pattern": effects_pattern([paired_effect("acc", "full − same at 10 per class", {0: 1.0}, {0: 0.0})])}
    assert results["pattern"]["verdict"] == "not resolved"
    assert "cannot tell any effect from seed noise" in resolution_sentence(results)
    assert "acc|full − same at 10 per class" not in data_efficiency.paper_effects({**results, "paper": {}})


def test_the_head_note_follows_the_runs_head():
    """The report names the run's own head: bnneck (quick, medium) with its reason, or the paper's gap."""
    results = _results()
    assert "bnneck" not in shift.section(results)  # no config: no claim about the head
    bnneck = shift.section({**results, "config": {"head": "bnneck"}})
    gap = shift.section({**results, "config": {"head": "gap"}})
    assert "uses the <code>bnneck</code> head" in bnneck and "shrinks the pooled features" in bnneck
    assert "the paper's head: global average pooling" in gap and "bnneck" not in gap
