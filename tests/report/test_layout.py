"""report.html fits a 1400-px page: laid out by headless Chromium, which measures every table
against its section and takes a screenshot (skipped where Chromium is not installed)."""
import json
import re
import shutil
import subprocess

import pytest

from fullconv.experiments.registry import all_experiments
from fullconv.report.html import write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
WIDTH = 1400

MEASURE = """<script>
window.addEventListener('load', () => {
  const wide = [];
  for (const item of document.querySelectorAll('table, figure img')) {
    const box = item.getBoundingClientRect(), frame = item.closest('section').getBoundingClientRect();
    if (box.width > 0 && (box.right > frame.right + 0.5 || box.left < frame.left - 0.5))
      wide.push(item.closest('section').id + ' ' + item.tagName + ' ' + Math.round(box.width));
  }
  document.body.setAttribute('data-layout', JSON.stringify(
    {wide, page: document.documentElement.scrollWidth, view: window.innerWidth}));
});
</script>"""


def _summary(experiment) -> list[dict]:
    values = {"border": "full-exact", "arch": "resnet101", "init": "pretrained", "dims": "spacetime",
              "dataset": "hmdb51", "test": "fashion-mnist-test", "blurpool": True}
    rows = []
    for i in range(6):
        row = {key: values.get(key, 100000 + i) for key in experiment.group_by}
        for metric in experiment.metrics:
            row[f"{metric}_mean"], row[f"{metric}_std"] = 87.654321 + i, 1.234567
        rows.append({**row, "n": 10})
    return rows


def _chromium(*args) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           f"--window-size={WIDTH},3000", *args], capture_output=True, text=True, timeout=180)


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (apt-get install chromium)")
def test_every_table_fits_a_1400_px_page(tmp_path):
    long_detail = "similar / dissimilar %: " + "; ".join(f"variant-{i} 99.9 / 99.9" for i in range(12))
    for experiment in all_experiments():
        folder = tmp_path / experiment.name
        folder.mkdir()
        summary = _summary(experiment)
        results = {"experiment": experiment.name, "title": experiment.display_title, "preset": "quick",
                   "config": {"seeds": 10}, "environment": {}, "wall_time_s": 600.0, "rows": [],
                   "summary": summary, "pattern": {"reproduced": True, "detail": long_detail},
                   "paper": experiment.paper}
        (folder / "results.json").write_text(json.dumps(results))
    page = write_report(tmp_path).read_text()
    measured = tmp_path / "measured.html"
    measured.write_text(page.replace("</body>", MEASURE + "</body>"))
    dom = _chromium("--virtual-time-budget=5000", "--dump-dom", measured.as_uri())
    found = re.search(r"data-layout=\"([^\"]*)\"", dom.stdout)
    assert found, dom.stderr[-2000:]
    layout = json.loads(found.group(1).replace("&quot;", '"'))
    assert layout["view"] == WIDTH
    assert layout["wide"] == [] and layout["page"] <= WIDTH, layout
    shot = tmp_path / "report.png"
    _chromium(f"--screenshot={shot}", (tmp_path / "report.html").as_uri())
    from PIL import Image
    assert Image.open(shot).size[0] == WIDTH
