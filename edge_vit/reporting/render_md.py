"""The report as Markdown: warnings first, then one section per device (environment, what to
ship, Pareto front, the decision columns, notes in full, every column in a collapsed table,
failures), then provenance."""

from __future__ import annotations

from . import columns as C
from . import schema as S


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _table(cols, rows: list[S.ReportRow], numbers: dict[str, int]) -> list[str]:
    out = ["| # | " + " | ".join(_cell(c.title) for c in cols) + " |",
           "|---:|" + "|".join("---:" if c.numeric else "---" for c in cols) + "|"]
    out += [f"| {numbers.get(r.model_id, '')} | " + " | ".join(_cell(c.cell(r)) for c in cols)
            + " |" for r in rows]
    return out


def _recommendations(report: S.Report, device: str, numbers: dict[str, int]) -> list[str]:
    recs = report.recommendations_for(device)
    if not recs:
        return []
    out = ["**What to ship here**", ""]
    for rec in recs:
        row = report.row(device, rec.pick)
        arch = f" ({rec.architecture})" if rec.architecture and len(
            {r.architecture for r in recs}) > 1 else ""
        if row is None:
            out.append(f"- *{_cell(rec.title)}{arch}*: {_cell(rec.reason or 'none')}")
            continue
        out.append(f"- *{_cell(rec.title)}{arch}*: **#{numbers.get(row.model_id, '?')} "
                   f"{_cell(C.variant(row))}**, {_cell(C.deployment(row))}: p50 "
                   f"{C.ms_ci(row.p50_ms, row.p50_ci_low_ms, row.p50_ci_high_ms)} ms, top-1 "
                   f"{C.with_ci(row.top1_pct, row.top1_ci_low_pct, row.top1_ci_high_pct, 1)} %")
        out += [f"  - {_cell(u)}" for u in rec.unresolved]
    ref = next((report.row(device, r.reference) for r in recs if r.reference), None)
    if ref is not None:
        out += ["", f"Reference: the fastest unpruned fp32 row here, {_cell(C.deployment(ref))}"
                f", p50 {C.ms(ref.p50_ms)} ms, top-1 {C.num(ref.top1_pct, 1)} %; budgets "
                f"{', '.join(report.recommend_under) or '-'}."]
    return out + [""]


def _notes(rows: list[S.ReportRow], numbers: dict[str, int]) -> list[str]:
    items = [f"- {_cell(C.numbered(r, numbers))}: " + _cell("; ".join(b.text for b in bs))
             for r in rows if (bs := C.badges(r))]
    return (["Notes in full:", ""] + items + [""]) if items else []


def _environment(env: S.DeviceEnvironment | None) -> list[str]:
    if env is None:
        return []
    facts = [("kind", env.kind), ("host", env.hostname), ("CPU", env.cpu_model),
             ("cores", env.cores_logical), ("arch", env.machine), ("OS", env.os),
             ("kernel", env.kernel), ("governor", env.governor), ("Python", env.python),
             ("runtimes", ", ".join(f"{k} {v}" for k, v in env.runtimes.items()) or None),
             ("board", ", ".join(f"{k}={v}" for k, v in env.board.items()) or None),
             ("runs", f"{env.runs} ({env.first_run or '?'} → {env.last_run or '?'})"),
             ("measurement", C.measurement_quality(env))]
    out = [f"- **{k}**: {_cell(str(v))}" for k, v in facts if v not in (None, "")]
    if env.throttled_runs:
        out.append(f"- **THROTTLED runs ({len(env.throttled_runs)})**: "
                   + _cell(", ".join(env.throttled_runs)))
    if env.throttle_unknown_runs:
        out.append(f"- throttling could not be read for {env.throttle_unknown_runs} run(s)")
    if env.noisy_runs:
        out.append(f"- **noisy runs**: {len(env.noisy_runs)} of {env.runs} (marked 'noisy' in "
                   "the table)")
    return out


def _device_section(report: S.Report, device: str | None, numbers: dict[str, int]
                    ) -> list[str]:
    rows = report.rows_for(device)
    out = [f"## {_cell(C.section_title(device))}", ""]
    env = report.environment(device) if device is not None else None
    if env:
        out += _environment(env) + [""]
    if device is not None:
        out += _recommendations(report, device, numbers)
    front = C.front_rows(rows)
    if front:
        out += ["**Pareto front** (★ front, ≈ tied within the noise), fastest first:", ""]
        out += [f"{i}. {_cell(C.front_summary(r))}" for i, r in enumerate(front, 1)] + [""]
    measured = C.measured_rows(rows)
    if measured:
        out += _table(C.MAIN_COLUMNS, measured, numbers) + [""] + _notes(measured, numbers)
        out += ["<details><summary>All columns</summary>", ""]
        out += _table(C.RESULT_COLUMNS, measured, numbers) + ["", "</details>", ""]
    acc_only = C.unmeasured_accuracy_rows(rows) if device is None else []
    if acc_only:
        out += ["Accuracy without a latency:", ""]
        out += _table(C.RESULT_COLUMNS, acc_only, numbers) + [""]
    failed = C.failed_rows(rows)
    if failed:
        out += [f"**Failed or not measured ({len(failed)})**:", ""]
        out += _table(C.FAILURE_COLUMNS, failed, numbers) + [""]
    return out + _layers(report, device)


def _layers(report: S.Report, device: str | None) -> list[str]:
    """Where the time goes: each breakdown's share of time next to its share of MACs."""
    from ..layers import table as LT

    profiles = report.layers_for(device)
    if not profiles:
        return []
    out = [f"### Where the time goes ({len(profiles)} breakdown(s))", "", LT.LEGEND, ""]
    for p in profiles:
        out += [f"**{_cell(LT.title(p))}**", ""]
        if p.status != "ok":
            continue
        out += ["| " + " | ".join(LT.COLUMNS) + " |", "|" + "---|" * len(LT.COLUMNS)]
        out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in LT.rows(p)]
        out += [""] + [f"- {_cell(n)}" for n in p.notes] + [""]
    return out


def _provenance(report: S.Report, numbers: dict[str, int]) -> list[str]:
    out = ["## Provenance", "", "### Models and weights", "",
           "| # | variant | model | architecture | pruned | baseline | weights | source | "
           "state sha256 | note |", "|---:|---|---|---|---|---|---|---|---|---|"]
    for m in sorted(report.models, key=lambda m: numbers.get(m.model_id, 0)):
        kind = f"**{m.weights_kind} (RANDOM INIT)**" if m.random_init else (m.weights_kind or "-")
        out.append("| " + " | ".join(_cell(str(v)) for v in (
            numbers.get(m.model_id, ""), m.name or "-", m.model_id, m.architecture or "-",
            m.prune_summary or "no",
            m.baseline_model_id or "-", kind, m.weights_source or "-",
            (m.state_sha256 or "-")[:16], m.weights_note or "")) + " |")
    out += ["", "### Images (accuracy)", ""]
    if not report.data:
        out.append("No accuracy results.")
    else:
        out += ["| fingerprint | root | layout | images | classes | limit | used by |",
                "|---|---|---|---:|---:|---:|---|"]
        for d in report.data:
            out.append("| " + " | ".join(_cell(str(v)) for v in (
                d.fingerprint[:16], d.root, d.layout, d.num_images, d.num_classes,
                d.limit if d.limit is not None else "-", ", ".join(d.used_by))) + " |")
    return out + [""]


def render_markdown(report: S.Report) -> str:
    out = ["# edge-vit report", "",
           f"Generated {report.generated or '?'} by {report.tool or 'edge-vit'} from "
           + _cell(C.inputs_text(report.inputs)) + ".", ""]
    for w in report.warnings:
        loud = w.startswith("RANDOM-INIT")
        out.append(f"> {'**⚠ ' if loud else '⚠ '}{_cell(w)}{'**' if loud else ''}")
    if report.warnings:
        out.append("")
    out += ["**Pareto rule.** " + report.pareto_rule, "",
            "Speedup = latency of the unpruned baseline (same architecture, format, "
            "precision, runtime, device) / latency of the row, from their medians in the same "
            "rounds of one profile session (geometric mean over rounds, 95% interval); 'tie' "
            "when the interval holds 1. p50 intervals include the variation between rounds. "
            "Δ top-1 is "
            "the change in points vs the baseline artifact in the same runtime, and vs the "
            "baseline's PyTorch fp32 reference, on the same images.", ""]
    numbers = C.variant_numbers(report.models, report.rows)
    for device in report.device_names():
        out += _device_section(report, device, numbers)
    if report.rows_for(None):
        out += _device_section(report, None, numbers)
    out += _provenance(report, numbers)
    return "\n".join(out)
