import json
import re

import numpy as np
import pytest
from browser import rendered, screenshot
from conftest import one_line
from PIL import Image

from vidssl import api
from vidssl.errors import VidsslError
from vidssl.eval.finetune import FinetuneConfig
from vidssl.report import pct

_REPORT = {}


@pytest.fixture
def report_run(tiny_run):
    """A tiny run with fine-tuning results and its report (built once per module)."""
    if "run" not in _REPORT:
        api.finetune_run(tiny_run, FinetuneConfig(steps=2, batch_size=8, clips_per_video=2, progress=False))
        _REPORT["run"] = tiny_run
        _REPORT["html"] = api.report(tiny_run)
    return _REPORT["run"], _REPORT["html"]


def displayed_metrics(results):
    """Every metric of results.json, formatted as the report shows it."""
    out = []
    for name, r in results["results"].items():
        for label, m in r["labels"].items():
            if "skipped" in m:
                continue
            vals = [m["linear_probe"]["accuracy"], m["knn"]["accuracy"], m["chance"], *m["retrieval"].values()]
            out += [(f"{name}/{label}", pct(v)) for v in vals]
    for name, r in results["finetune"]["results"].items():
        out += [(f"finetune/{name}", pct(r["per_clip_acc"])), (f"finetune/{name}", pct(r["per_video_acc"]))]
    return out


def test_report_is_self_contained_and_shows_every_metric_of_results_json(report_run):
    run, path = report_run
    assert path == run / "report.html"
    page = path.read_text()
    results = json.loads((run / "results.json").read_text())
    assert set(results["finetune"]["results"]) == {"ssl", "random_init"}
    assert set(results["results"]) == {"ssl", "random_init", "random_init_no_bn_recal"}
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", page)
    for where, shown in displayed_metrics(results):
        assert shown in page, (where, shown)
    for name, r in results["results"].items():  # table cells, in table order
        m = r["labels"]["motion"]
        row = [pct(m["linear_probe"]["accuracy"]), pct(m["knn"]["accuracy"]), *map(pct, m["retrieval"].values()),
               pct(m["chance"])]
        assert any(cells[i : i + len(row)] == row for i in range(len(cells))), (name, row)
    assert not re.search(r"https?://", page)
    assert "<link" not in page and "<script" not in page and "url(" not in page
    srcs = re.findall(r'src="([^"]{0,30})', page)
    assert len(srcs) == 8 and all(s.startswith("data:image/png;base64,") for s in srcs if "webp" not in s)
    assert sum(s.startswith("data:image/webp;base64,") for s in srcs) == 1  # the animated retrieval grid
    assert "Left out" not in page
    assert "supervised from scratch" in page and "They give the accuracy recorded in results.json" in page


def test_report_of_a_bad_run_folder_is_a_one_line_error(tmp_path, tiny_run):
    for run, frag in [(tmp_path / "nothing", "does not exist"), (tmp_path, "has no results.json")]:
        with pytest.raises(VidsslError) as e:
            api.report(run)
        assert frag in one_line(e.value)
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(VidsslError) as e:
        api.report(tmp_path)
    assert "is not valid JSON" in one_line(e.value)
    (tiny_run / "checkpoints" / "last.pt").unlink()
    results = json.loads((tiny_run / "results.json").read_text())
    results["protocol"]["checkpoint"] = str(tmp_path / "gone.pt")
    (tiny_run / "results.json").write_text(json.dumps(results))
    with pytest.raises(VidsslError) as e:
        api.report(tiny_run)
    assert "no checkpoint for" in one_line(e.value)


def test_report_in_headless_chromium_loads_every_picture_and_shows_the_headline_numbers(report_run, tmp_path):
    run, html = report_run
    page = rendered(html, tmp_path)
    srcs = re.findall(r'<img [^>]*src="data:', html.read_text())
    assert len(page["widths"]) == len(srcs) == 8
    assert all(page["complete"]) and min(page["widths"]) > 0, page["widths"]  # every picture decoded
    results = json.loads((run / "results.json").read_text())
    res = results["results"]
    # the headline's random init is the stronger of its two BN choices, named by the one it is
    lp = {k: r["labels"]["motion"]["linear_probe"]["accuracy"] for k, r in res.items()}
    stronger = max(("random_init", "random_init_no_bn_recal"), key=lp.get)
    bn = "initial BN statistics" if stronger == "random_init_no_bn_recal" else "BN re-estimated"
    headline = [(pct(lp["ssl"]), "linear probe, motion, self-supervised"),
                (pct(lp[stronger]), f"linear probe, motion, random init ({bn}), the stronger"),
                (pct(res["ssl"]["labels"]["motion"]["chance"]), "chance (largest class)"),
                (pct(results["finetune"]["results"]["ssl"]["per_video_acc"]), "fine-tuned from self-supervised")]
    text = re.sub(r"\s+", " ", page["text"])
    for v, what in headline:
        assert f"{v}% {what}" in text, (v, what)
    for name in ("random init (BN re-estimated)", "random init (initial BN statistics)"):
        assert f"self-supervised vs {name}: linear probe" in text  # both baselines compared in words
    for _, shown in displayed_metrics(results):  # every metric is visible text, not only in the source
        assert shown in text
    with Image.open(screenshot(html, tmp_path / "shot.png")) as im:
        assert im.size == (1200, 3000)
        px = np.asarray(im.convert("L"), np.float32)
    assert px.std() > 20 and (px < 100).mean() > 0.005  # text and pictures, not a blank page
