"""Load the HTML report in a real headless browser (Debian's chromium): the DOM after load
has every device's tables and plots with their data points; at 1400 px the page does not
overflow sideways, the main tables fit without scrolling, every plot has both axis labels and
no point label overlaps another label or a point (measured on the browser's own glyph boxes),
every device has its recommendations; and a screenshot renders (kept: set
EDGE_VIT_SCREENSHOT_DIR to keep it elsewhere than pytest's temporary folder)."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest

from edge_vit import results as rs
from edge_vit.layers.result import GroupShare, LayerProfile
from edge_vit.reporting import build_report, write_report
from edge_vit.reporting import schema as S
from edge_vit.reporting.join import mark_pareto
from edge_vit.reporting.plots import pareto_rows, runtimes_of
from edge_vit.reporting.recommend import recommend
from edge_vit.reporting.render_html import render_html
from tests.reporting.sweep import BASE, PA, write_sweep

WIDTH = 1400

CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")


def _browser() -> str:
    for name in CANDIDATES:
        path = shutil.which(name) or (name if Path(name).is_file() else None)
        if path:
            return path
    pytest.skip("no headless browser: install Debian's chromium with "
                "`apt-get install -y chromium` (provides /usr/bin/chromium)")


def _argv(browser: str, profile: Path) -> list[str]:
    return [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
            f"--user-data-dir={profile}"]


class _DomIndex(HTMLParser):
    """Counts, per element with a data-plot / table class, what it contains."""

    def __init__(self):
        super().__init__()
        self.stack: list[tuple[str, str | None]] = []
        self.circles: dict[str, int] = {}
        self.tables: list[tuple[str, str, int]] = []  # class, device, body rows
        self.svg_plots: list[str] = []
        self._table: list | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "svg" and "plot" in (a.get("class") or "").split():
            self.svg_plots.append(a.get("data-plot"))
            self.stack.append(("svg", a.get("data-plot")))
        elif tag == "table":
            self._table = [a.get("class"), a.get("data-device"), 0]
        elif tag == "tr" and self._table is not None and self.stack[-1:] == [("tbody", None)]:
            self._table[2] += 1
        elif tag == "tbody":
            self.stack.append(("tbody", None))
        elif tag == "circle":
            plots = [p for t, p in self.stack if t == "svg"]
            if plots:
                self.circles[plots[-1]] = self.circles.get(plots[-1], 0) + 1

    def handle_endtag(self, tag):
        if tag == "svg" and self.stack and self.stack[-1][0] == "svg":
            self.stack.pop()
        elif tag == "tbody" and self.stack and self.stack[-1][0] == "tbody":
            self.stack.pop()
        elif tag == "table" and self._table is not None:
            self.tables.append(tuple(self._table))
            self._table = None


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", head[16:24])


def _layer_profile(device: str, model_id: str) -> LayerProfile:
    """A per-layer breakdown as `edge-vit profile --layers` records it (12 blocks)."""
    def share(group, part, i, n):
        return GroupShare(group=group, part=part, ms=0.1 * (i + 1), share=1 / n,
                          share_min=0.8 / n, share_max=1.2 / n, macs_share=1 / n, ops=12,
                          fused_ops=3, by_neighbours=1)
    groups = ["embed"] + [f"blocks.{i}" for i in range(12)] + ["norm", "head"]
    return LayerProfile(
        artifact=rs.ArtifactRef(model_id=model_id, format="onnx", precision="fp32", path="-"),
        runtime="onnxruntime", device_name=device, runtime_version="1.23.0",
        inference_precision="fp32", threads=4,
        summary=[share(g, "", i, len(groups)) for i, g in enumerate(groups)],
        groups=[share(f"blocks.{i}", part, i, 36) for i in range(12)
                for part in ("attention", "mlp", "norms+residual")],
        notes=["op times from onnxruntime's profiler, in runs of their own"])


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """The constructed sweep, plus the sections later issues added: a per-layer breakdown
    and a row pruned to a latency budget."""
    root = tmp_path_factory.mktemp("browser")
    d = write_sweep(root)
    report = build_report([d["artifacts"]], d["results"], d["accuracy"])
    report.layers.append(_layer_profile("laptop", BASE))
    budgeted = next(r for r in report.rows_for("laptop") if r.model_id == PA and r.p50_ms)
    budgeted.budget_ms, budgeted.budget_met = 7.5, True
    budgeted.notes = f"budget 7.5 ms p50: met (7 ms; predicted 7.2); {budgeted.notes or ''}"
    return report, write_report(report, root / "report", formats=("html",))["html"]


def test_dom_after_load_has_tables_and_plots(page, tmp_path):
    browser = _browser()
    report, html = page
    proc = subprocess.run(_argv(browser, tmp_path / "profile") + [
        "--dump-dom", html.resolve().as_uri()], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = _DomIndex()
    dom.feed(proc.stdout)
    assert "edge-vit report" in proc.stdout
    tables = {(cls, dev): n for cls, dev, n in dom.tables}
    for device in report.device_names():
        rows = report.rows_for(device)
        assert tables[("results", device)] == sum(r.p50_ms is not None for r in rows)
        assert tables[("failures", device)] == sum(r.status != "ok" for r in rows)
        for plot in ("latency", "macs"):
            assert f"{plot}-{device}" in dom.svg_plots
        # one plot per runtime, one data point per row with both a latency and an accuracy
        plots = [f"pareto-{device}-{rt}" for rt in runtimes_of(rows)]
        assert set(plots) <= set(dom.svg_plots) and plots
        assert sum(dom.circles.get(p, 0) for p in plots) == len(pareto_rows(rows)) > 0
        assert dom.circles.get(f"macs-{device}", 0) == sum(
            r.p50_ms is not None and bool(r.macs) for r in rows)
    assert ("models", None) in tables and ("images", None) in tables


def test_screenshot_renders(page, tmp_path):
    browser = _browser()
    _, html = page
    keep = Path(os.environ.get("EDGE_VIT_SCREENSHOT_DIR") or tmp_path)
    keep.mkdir(parents=True, exist_ok=True)
    shot = keep / "report-1400.png"
    proc = subprocess.run(_argv(browser, tmp_path / "profile") + [
        f"--screenshot={shot}", f"--window-size={WIDTH},2400", html.resolve().as_uri()],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert shot.is_file()
    assert _png_size(shot) == (WIDTH, 2400)
    # a blank page compresses to a few KB; the report with plots and tables does not
    assert shot.stat().st_size > 50_000
    print(f"screenshot: {shot}")


# Measures the laid-out page and writes the figures into the DOM, where --dump-dom finds them.
MEASURE = """<script>addEventListener('load', () => {
  const box = e => { const b = e.getBBox(); return [b.x, b.y, b.x + b.width, b.y + b.height]; };
  const out = {page: document.documentElement.scrollWidth, viewport: innerWidth,
    tables: [...document.querySelectorAll('table:not(.details)')].map(t =>
      [t.className + ' ' + (t.dataset.device || ''), t.parentElement.scrollWidth,
       t.parentElement.clientWidth]),
    recs: [...document.querySelectorAll('div.recommendations')].map(d =>
      [d.dataset.device, d.querySelectorAll('div.rec').length]),
    plots: [...document.querySelectorAll('svg.plot')].map(svg => ({plot: svg.dataset.plot,
      axes: [...svg.querySelectorAll('text.axis-label')].map(t => t.textContent.trim()),
      labels: [...svg.querySelectorAll('text.point-label')].map(t => [t.textContent, box(t)]),
      points: [...svg.querySelectorAll('circle.point')].map(c => { const r = +c.getAttribute('r');
        return [+c.getAttribute('cx') - r, +c.getAttribute('cy') - r,
                +c.getAttribute('cx') + r, +c.getAttribute('cy') + r]; }),
      right: svg.getBoundingClientRect().right}))};
  const pre = document.createElement('pre'); pre.id = 'measured';
  pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
});</script>"""


def _measure(html: str, tmp_path: Path) -> dict:
    page = tmp_path / "measured.html"
    page.write_text(html.replace("</body>", MEASURE + "</body>"))
    proc = subprocess.run(_argv(_browser(), tmp_path / "profile") + [
        f"--window-size={WIDTH},2000", "--virtual-time-budget=5000", "--dump-dom",
        page.resolve().as_uri()], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = re.search(r'<pre id="measured">(.*?)</pre>', proc.stdout, re.S)
    assert found, "the measuring script did not run"
    return json.loads(unescape(found.group(1)))


def _hit(a, b, slack: float = 0.5) -> bool:
    return (a[0] < b[2] - slack and b[0] < a[2] - slack and a[1] < b[3] - slack
            and b[1] < a[3] - slack)


def _check_layout(m: dict, devices: list[str]) -> None:
    assert m["viewport"] == WIDTH
    assert m["page"] <= WIDTH, f"the page overflows sideways: {m['page']} px"
    for table, scroll, client in m["tables"]:  # every table shown; the detail one may scroll
        assert scroll <= client, f"table {table} scrolls sideways: {scroll} > {client} px"
    assert sorted(d for d, n in m["recs"] if n >= 1) == sorted(devices)
    for p in m["plots"]:
        assert len(p["axes"]) >= 2 and all(p["axes"]), f"{p['plot']}: axis labels {p['axes']}"
        assert p["right"] <= WIDTH, f"{p['plot']} reaches past the window"
        labels = p["labels"]
        for i, (text, box) in enumerate(labels):
            for other, obox in labels[i + 1:]:
                assert not _hit(box, obox), f"{p['plot']}: labels {text} and {other} overlap"
            for point in p["points"]:
                assert not _hit(box, point), f"{p['plot']}: label {text} covers a point"


def test_page_fits_1400px_with_readable_plots_and_a_recommendation_per_device(page, tmp_path):
    report, html = page
    m = _measure(html.read_text(), tmp_path)
    _check_layout(m, report.device_names())
    assert any(p["labels"] for p in m["plots"])  # the points are labelled
    kinds = {t.split()[0] for t, _, _ in m["tables"]}
    assert {"results", "failures", "layers", "models", "images"} <= kinds
    text = html.read_text()
    assert '<span class="badge ok" title="budget 7.5 ms p50: met' in text


def _crowded_report(n: int = 14) -> S.Report:
    """One device, n variants in two runtimes, all within a few percent of each other on
    both axes: the worst case for the label placer."""
    rows = []
    for i in range(n):
        for runtime, fmt in (("onnxruntime", "onnx"), ("openvino", "openvino")):
            p50 = 1.0 + 0.004 * i + (0.05 if runtime == "openvino" else 0)
            top1 = 70.0 + 0.1 * (i % 5)
            rows.append(S.ReportRow(
                device="crowded", model_id=f"m{i:02d}", name=f"variant {i}", format=fmt,
                precision="fp32", runtime=runtime, architecture="a", pruned=i > 0,
                macs=10_000_000 * (n - i), p50_ms=p50, p50_ci_low_ms=p50 * 0.98,
                p50_ci_high_ms=p50 * 1.02, rounds=5, top1_pct=top1,
                top1_ci_low_pct=top1 - 3, top1_ci_high_pct=top1 + 3, eval_images=1000))
    mark_pareto(rows)
    report = S.Report(rows=rows, models=[S.ModelProvenance(model_id=f"m{i:02d}",
                                                           name=f"variant {i}", pruned=i > 0)
                                         for i in range(n)])
    report.recommendations = recommend(rows, lambda a, b: None)
    return report


def test_crowded_plot_labels_do_not_overlap(tmp_path):
    report = _crowded_report()
    m = _measure(render_html(report), tmp_path)
    _check_layout(m, ["crowded"])
    labelled = {p["plot"]: len(p["labels"]) for p in m["plots"]}
    assert labelled["pareto-crowded-onnxruntime"] == labelled["pareto-crowded-openvino"] == 14
