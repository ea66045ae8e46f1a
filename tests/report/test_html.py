"""report.html: every experiment's verdict, our numbers next to the paper's, figures embedded as data URIs."""
import base64
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from fullconv.report.html import write_report  # noqa: E402
from fullconv.report.tables import mean_std, table  # noqa: E402


def _results(name, reproduced, figures):
    return {"experiment": name, "title": name.title(), "preset": "ci", "config": {"seeds": 2},
            "environment": {"torch": "x"}, "wall_time_s": 75.0, "figures": figures,
            "rows": [{"border": "same", "seed": 0, "acc": 99.0}, {"border": "same", "seed": 1, "acc": 97.0}],
            "summary": [{"border": "same", "acc_mean": 98.0, "acc_std": 1.41421, "n": 2}],
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
