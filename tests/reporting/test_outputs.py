"""The four outputs: CSV and JSON agree, JSON round-trips, Markdown has every device,
HTML is self-contained and escaped; write_report and the CLI."""

from __future__ import annotations

import dataclasses
import json
import math
import re

import pytest
from click.testing import CliRunner

from edge_vit.commands import main
from edge_vit.errors import UsageError
from edge_vit.reporting import ReportRow, build_report, read_report, write_report
from edge_vit.reporting import schema as S
from edge_vit.reporting.plots import pareto_rows
from edge_vit.reporting.render_csv import FIELDS, read_csv_rows
from edge_vit.serialization import to_dict
from tests.reporting.sweep import PA, write_sweep


@pytest.fixture
def sweep(tmp_path):
    return write_sweep(tmp_path)


@pytest.fixture
def report(sweep):
    return build_report([sweep["artifacts"]], sweep["results"], sweep["accuracy"])


@pytest.fixture
def written(report, tmp_path):
    return write_report(report, tmp_path / "out")


def test_write_report_writes_every_format(written, tmp_path):
    assert set(written) == {"md", "csv", "json", "html"}
    assert all(p.parent == tmp_path / "out" and p.stat().st_size > 0 for p in written.values())
    assert not list((tmp_path / "out").glob(".*.tmp"))


def test_write_report_rejects_unknown_format(report, tmp_path):
    with pytest.raises(UsageError):
        write_report(report, tmp_path / "x", formats=("md", "pdf"))


def test_csv_and_json_agree_field_by_field(written, report):
    data = json.loads(written["json"].read_text())
    csv_rows = read_csv_rows(written["csv"])
    header = written["csv"].read_text().splitlines()[0].split(",")
    assert tuple(header) == FIELDS == tuple(f.name for f in dataclasses.fields(ReportRow))
    assert len(csv_rows) == len(data["rows"]) == len(report.rows) == 14
    for from_csv, from_json in zip(csv_rows, data["rows"], strict=True):
        assert set(from_json) == set(FIELDS)
        for name in FIELDS:
            a, b = getattr(from_csv, name), from_json[name]
            if isinstance(b, float):
                assert math.isclose(a, b, rel_tol=0, abs_tol=0), name
            else:
                assert a == b, (name, a, b)


def test_json_round_trips_to_the_typed_report(written, report):
    data = json.loads(written["json"].read_text())
    assert data["schema_version"] == S.REPORT_SCHEMA_VERSION
    back = read_report(written["json"])
    assert back == report
    assert isinstance(back.rows[0], ReportRow)
    assert to_dict(back) == data


def test_read_report_refuses_other_schema(written, tmp_path):
    data = json.loads(written["json"].read_text())
    data["schema_version"] = "2.0"
    other = tmp_path / "other.json"
    other.write_text(json.dumps(data))
    from edge_vit.errors import ManifestError

    with pytest.raises(ManifestError):
        read_report(other)


def test_markdown_has_every_device_table_and_marks_the_front(written, report):
    md = written["md"].read_text()
    for device in report.device_names():
        assert f"## Device: {device}" in md
    assert "## Not profiled on any device" in md
    assert md.count("| # | Pareto | variant | deployment |") == 2  # laptop, pi5: decision columns
    assert md.count("| # | Pareto | variant | model |") >= 3  # all columns, + device-less
    assert "RANDOM-INIT WEIGHTS" in md
    # variants by name, the id beside it in the full table; tied and front members marked
    assert "| 2 | ≈ | heads −33% · MLP −50% | onnx/fp32 · onnxruntime |" in md
    assert "| 2 | ≈ | heads −33% · MLP −50% | deit_tiny-pruned-aaaa |" in md
    assert "| 1 | ★ | unpruned | onnx/fp32 · onnxruntime |" in md  # the pi5's only member
    assert md.count("**What to ship here**") == 2
    assert "export: openvino conversion crashed: unsupported op Foo" in md
    assert "profile: timed out after 240 s" in md
    assert "**Pareto rule.**" in md


def test_html_is_self_contained(written):
    html = written["html"].read_text()
    assert "<script" not in html and "<link" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html)
    assert "http://" not in html and "https://" not in html
    assert "@import" not in html and "url(" not in html
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")


def test_html_has_tables_plots_and_points(written, report):
    html = written["html"].read_text()
    for device in report.device_names():
        assert f'<table class="results" data-device="{device}">' in html
        assert f'<table class="failures" data-device="{device}">' in html
        for plot in ("latency", "macs"):
            assert f'data-plot="{plot}-{device}"' in html
        svgs = re.findall(rf'<svg class="plot" data-plot="pareto-{device}-[^"]+".*?</svg>',
                          html, re.S)
        assert len(svgs) == len({r.runtime for r in pareto_rows(report.rows_for(device))})
        assert sum(s.count("<circle") for s in svgs) == len(pareto_rows(report.rows_for(device)))
        assert f'<div class="recommendations" data-device="{device}">' in html
    assert 'class="pareto-front"' in html
    assert '<div class="warning loud">' in html
    assert '<table class="models">' in html and '<table class="images">' in html


def test_html_escapes_text(tmp_path):
    d = write_sweep(tmp_path)
    from edge_vit.reporting.join import join
    from edge_vit.reporting.load import load_inputs

    inputs = load_inputs([d["artifacts"]], d["results"], d["accuracy"])
    evil = '<img src="https://x/y.png" onerror=alert(1)>'
    inputs.profiles[evil] = inputs.profiles.pop("pi5")
    for res in inputs.profiles[evil].values():
        res.error = res.error and f"{res.error} </table><script>x</script>"
    from edge_vit.reporting.render_html import render_html

    html = render_html(join(inputs))
    assert "<script" not in html and "<img" not in html
    assert "&lt;img src=&quot;https://x/y.png&quot;" in html
    assert "&lt;/table&gt;&lt;script&gt;" in html


def test_cli_report(sweep, tmp_path):
    out = tmp_path / "rep"
    res = CliRunner().invoke(main, [
        "report", str(sweep["artifacts"]), "--results", str(sweep["results"]),
        "--out", str(out), "--formats", "md,json"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == ["report.json", "report.md"]
    assert f"wrote md: {out / 'report.md'}" in res.output
    assert "laptop" in res.output and "pi5" in res.output
    assert "≈ heads −33% · MLP −50% onnx/fp32 on onnxruntime" in res.output
    assert "Fastest within 1 point of the unpruned top-1: #1 unpruned" in res.output
    assert "RANDOM-INIT" in res.output  # CliRunner mixes stderr in


def test_cli_report_defaults_and_errors(sweep, tmp_path, monkeypatch):
    monkeypatch.chdir(sweep["artifacts"].parent)  # ./artifacts, ./results, ./results/accuracy
    res = CliRunner().invoke(main, ["report"])
    assert res.exit_code == 0, res.output
    assert (sweep["artifacts"].parent / "report" / "report.html").is_file()
    bad = CliRunner().invoke(main, ["report", "--formats", "md,pdf"])
    assert bad.exit_code == 2 and "pdf" in bad.output
    bad = CliRunner().invoke(main, ["report", "--recommend-under", "fast"])
    assert bad.exit_code == 2 and "'fast'" in bad.output
    asked = CliRunner().invoke(main, ["report", "--recommend-under", "0.9x",
                                      "--recommend-under", "7ms", "--within-pts", "3"])
    assert asked.exit_code == 0, asked.output
    assert "Most accurate within 0.9× the unpruned p50" in asked.output
    assert "Most accurate within 7 ms p50: #2 heads −33% · MLP −50%" in asked.output
    assert "Fastest within 3 points of the unpruned top-1" in asked.output
    monkeypatch.chdir(tmp_path / "artifacts" / PA)
    empty = CliRunner().invoke(main, ["report", "--results", "nowhere"])
    assert empty.exit_code == 2 and "Nothing to report" in empty.output


def test_cli_report_help():
    res = CliRunner().invoke(main, ["report", "--help"])
    assert res.exit_code == 0
    for opt in ("--results", "--accuracy", "--out", "--formats", "--recommend-under",
                "--within-pts"):
        assert opt in res.output
