"""Load the HTML report in a real headless browser (Debian's chromium): the DOM after load
has every device's tables and plots with their data points, and a screenshot renders."""

from __future__ import annotations

import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from edge_vit.reporting import build_report, write_report
from edge_vit.reporting.plots import pareto_rows
from tests.reporting.sweep import write_sweep

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


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    d = write_sweep(root)
    report = build_report([d["artifacts"]], d["results"], d["accuracy"])
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
        for plot in ("pareto", "latency", "macs"):
            assert f"{plot}-{device}" in dom.svg_plots
        # one data point per row with both a latency and an accuracy
        assert dom.circles.get(f"pareto-{device}", 0) == len(pareto_rows(rows)) > 0
        assert dom.circles.get(f"macs-{device}", 0) == sum(
            r.p50_ms is not None and bool(r.macs) for r in rows)
    assert ("models", None) in tables and ("images", None) in tables


def test_screenshot_renders(page, tmp_path):
    browser = _browser()
    _, html = page
    shot = tmp_path / "shot.png"
    proc = subprocess.run(_argv(browser, tmp_path / "profile") + [
        f"--screenshot={shot}", "--window-size=1400,2000", html.resolve().as_uri()],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert shot.is_file()
    assert _png_size(shot) == (1400, 2000)
    # a blank page compresses to a few KB; the report with plots and tables does not
    assert shot.stat().st_size > 50_000
