"""report.html: every experiment's verdict, our numbers next to the paper's, figures embedded as data URIs."""
import base64
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from fullconv.experiments.registry import get  # noqa: E402
from fullconv.report.html import write_report  # noqa: E402
from fullconv.report.tables import mean_std, table  # noqa: E402


def _results(name, reproduced, figures):
    metric = get(name).metrics[0]  # the table shows the registry's metrics of the experiment
    return {"experiment": name, "title": name.title(), "preset": "ci", "config": {"seeds": 2},
            "environment": {"torch": "x"}, "wall_time_s": 75.0, "figures": figures,
            "rows": [{"border": "same", "seed": 0, metric: 99.0}, {"border": "same", "seed": 1, metric: 97.0}],
            "summary": [{"border": "same", f"{metric}_mean": 98.0, f"{metric}_std": 1.41421, "n": 2}],
            "pattern": {"reproduced": reproduced, "detail": f"detail of {name}"}, "paper": {"same": {"acc": 99.8}}}


def test_report_has_every_verdict_table_and_embedded_figure(tmp_path):
    for name, reproduced in (("red-green", True), ("rook", False)):
        folder = tmp_path / name
        folder.mkdir()
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.plot([0, 1], [1, 0])
        fig.savefig(folder / "curve.png")
        plt.close(fig)
        (folder / "results.json").write_text(json.dumps(_results(name, reproduced, ["curve.png"])))
    page = write_report(tmp_path, failures={"action": "no video decoder; pip install fullconv[video]"}).read_text()
    assert page.index('id="rook"') < page.index('id="red-green"')  # the paper's order
    assert "reproduced: <b>yes</b> — detail of red-green" in page
    assert "reproduced: <b>no</b> — detail of rook" in page
    assert "no video decoder; pip install fullconv[video]" in page
    assert "98.0 ± 1.4" in page and "99.8" in page and "1 min 15 s" in page
    png = base64.b64encode((tmp_path / "rook" / "curve.png").read_bytes()).decode()
    assert page.count("data:image/png;base64,") == 2 and png in page
    assert "<script" not in page and 'src="http' not in page  # self-contained


def test_tables_escape_and_format():
    html = table(["border", "acc"], [["<same>", 98.123456], ["full", None]])
    assert "&lt;same&gt;" in html and "98.12" in html and "<td>–</td>" in html
    assert mean_std(73.66, 1.04) == "73.7 ± 1.0" and mean_std(0.145, None, digits=3) == "0.145"


def test_paper_numbers_are_formatted_columns_never_raw_lists():
    import re

    from fullconv.experiments.registry import all_experiments
    from fullconv.report.tables import paper_table
    for experiment in all_experiments():
        if experiment.paper is None:
            continue
        text = re.sub(r"<[^>]+>", " ", paper_table(experiment.paper))
        assert not re.search(r"\[\s*-?\d", text), (experiment.name, text)  # no "[100.0, 0.0]"
    red_green = paper_table({"full": {"similar": (89.7, 0.5)}})
    assert "89.7 ± 0.5" in red_green
    efficiency = paper_table({"per_class": [50, 100], "same": [26.39, 43.99], "statement": "full ahead"})
    assert "<th>per_class</th><th>same</th>" in efficiency and "26.39" in efficiency and "full ahead" in efficiency


def test_small_metrics_keep_their_digits():
    from fullconv.report.tables import summary_table
    html = summary_table([{"border": "same", "fpr95_mean": 0.0213, "fpr95_std": 0.0041, "n": 3},
                          {"border": "full", "fpr95_mean": 0.145, "fpr95_std": 0.02, "n": 3}], ["border"], ["fpr95"])
    assert "0.0213 ± 0.0041" in html and "0.1450 ± 0.0200" in html and "0.0 ± 0.0" not in html


def test_the_paper_shift_numbers_of_every_resnet_are_shown():
    from fullconv.experiments.registry import get
    from fullconv.report.shift import section
    page = section({"summary": [], "paper": get("shift").paper})
    for value in ("82.06", "85.66", "91.53", "86.36", "92.75", "86.95", "88.73", "92.86"):
        assert value in page


def test_report_lists_experiments_without_results_with_the_reason(tmp_path):
    from fullconv.experiments.registry import all_experiments
    (tmp_path / "rook").mkdir()
    (tmp_path / "rook" / "results.json").write_text(json.dumps(_results("rook", True, [])))
    (tmp_path / "quadrant").mkdir()  # started, never completed
    page = write_report(tmp_path, failures={"action": "no video decoder"}).read_text()
    for experiment in all_experiments():
        assert f'id="{experiment.name}"' in page
    quadrant = page[page.index('<section id="quadrant"'):]
    assert "started but not complete" in quadrant[:quadrant.index("</section>")]
    shift = page[page.index('<section id="shift"'):]
    assert "not run" in shift[:shift.index("</section>")]
    assert "failed: no video decoder" in page


def test_each_experiment_names_the_report_module_that_draws_it():
    from fullconv.experiments.registry import all_experiments
    from fullconv.report import report_module
    for experiment in all_experiments():
        module = report_module(experiment.name)
        assert module.__name__ == experiment.report and callable(module.figures)
    assert report_module("no-such-experiment") is None


def test_the_summary_table_shows_the_registry_metrics_only(tmp_path):
    folder = tmp_path / "rook"
    folder.mkdir()
    results = _results("rook", True, [])
    results["summary"][0].update({"stray_mean": 12345.0, "stray_std": 0.0})  # not a metric of rook's entry
    (folder / "results.json").write_text(json.dumps(results))
    page = write_report(tmp_path).read_text()
    assert "98.0 ± 1.4" in page and "12345" not in page
