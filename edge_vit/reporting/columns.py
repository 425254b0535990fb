"""The human-readable table columns, shared by the Markdown and HTML renderers so both show
the same figures the same way (CSV and JSON carry the raw typed fields instead)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from . import schema as S
from .compare import PAIRED

MARKS = {S.FRONT: "★", S.TIED: "≈", S.DOMINATED: ""}
NO_DEVICE = "(no device)"


def num(v: float | int | None, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.{digits}f}"


def ms(v: float | None) -> str:
    """Milliseconds to three significant figures, whatever the scale (0.412, 4.12, 41.2)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    digits = 0 if v >= 100 else max(0, 2 - math.floor(math.log10(abs(v)))) if v else 2
    return f"{v:.{min(digits, 4)}f}"


def ms_ci(v: float | None, lo: float | None, hi: float | None) -> str:
    if v is None:
        return "-"
    return ms(v) if lo is None or hi is None else f"{ms(v)} [{ms(lo)}, {ms(hi)}]"


def with_ci(v: float | None, lo: float | None, hi: float | None, digits: int = 2) -> str:
    if v is None:
        return "-"
    if lo is None or hi is None:
        return num(v, digits)
    return f"{num(v, digits)} [{num(lo, digits)}, {num(hi, digits)}]"


def signed(v: float | None, digits: int = 2) -> str:
    if v is None:
        return "-"
    text = f"{v:+.{digits}f}"
    return "+" + text[1:] if text.startswith("-") and float(text) == 0 else text


def speedup(r: S.ReportRow) -> str:
    """``1.42× [1.39, 1.45]``; ``tie`` when the interval holds 1 (the noise cannot order the
    two); ``(unpaired)`` when the two were not measured in the same session."""
    if r.speedup is None:
        return "-"
    text = f"{r.speedup:.2f}×"
    if r.speedup_ci_low is not None and r.speedup_ci_high is not None:
        text += f" [{r.speedup_ci_low:.2f}, {r.speedup_ci_high:.2f}]"
    if r.speedup_resolved is False and r.model_id != r.baseline_model_id:
        text += " tie"
    if r.speedup_method and r.speedup_method != PAIRED and r.model_id != r.baseline_model_id:
        text += " (unpaired)"
    return text


def measurement_quality(env: S.DeviceEnvironment) -> str | None:
    """One line per device: how many rounds, how many dropped, the widest p50 interval."""
    parts = []
    if env.sessions:
        rounds = (f"{env.rounds_min}" if env.rounds_min == env.rounds_max
                  else f"{env.rounds_min}–{env.rounds_max}")
        target = f", target ±{env.target_ci:.1%}" if env.target_ci else ""
        parts.append(f"{len(env.sessions)} session{'s' * (len(env.sessions) > 1)}, {rounds} "
                     f"counted rounds per artifact (stopped by: {', '.join(env.stopped_by)}"
                     f"{target})")
        if env.rounds_dropped:
            why = ", ".join(f"{n} {k}" for k, n in sorted(env.drop_reasons.items()))
            parts.append(f"{env.rounds_dropped} rounds dropped and repeated ({why})")
        else:
            parts.append("no round dropped")
    if env.widest_p50_ci_pct is not None:
        parts.append(f"widest p50 interval ±{env.widest_p50_ci_pct:.1f}% "
                     f"({env.widest_p50_ci_row})")
    if env.single_runs:
        parts.append(f"{env.single_runs} result(s) from a single timed block: their intervals "
                     "leave out run-to-run variation; profile again")
    return "; ".join(parts) or None


def millions(v: int | None) -> str:
    return "-" if v is None else f"{v / 1e6:.2f}"


def giga(v: int | None) -> str:
    return "-" if v is None else f"{v / 1e9:.3f}"


def megabytes(v: int | None) -> str:
    return "-" if v is None else f"{v / 1e6:.2f}"


def prune_text(r: S.ReportRow) -> str:
    if not r.pruned:
        return "unpruned"
    ratio = f" (MACs {r.macs_ratio:.0%})" if r.macs_ratio is not None else ""
    return (r.prune_summary or "pruned") + ratio


def device_label(device: str | None) -> str:
    return NO_DEVICE if device is None else device


def section_title(device: str | None) -> str:
    return "Not profiled on any device (accuracy only)" if device is None \
        else f"Device: {device}"


def inputs_text(inputs: dict) -> str:
    return "; ".join(f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}"
                     for k, v in inputs.items()) or "-"


def variant(r: S.ReportRow) -> str:
    return r.name or r.model_id


def deployment(r: S.ReportRow) -> str:
    """``onnx/fp32 · onnxruntime``, with what the runtime computed in where that differs."""
    from .join import same_precision

    text = f"{r.format}/{r.precision} · {r.runtime or '-'}"
    ran = r.inference_precision
    if ran and same_precision(ran) != same_precision(r.precision):
        text += f" (ran {ran})"
    return text


@dataclass(frozen=True)
class Badge:
    """A row's note as a short word in the table; ``text`` is the note in full."""

    kind: str  # css class: bad | warn | info | ok
    word: str
    text: str


def _split_notes(notes: str | None) -> list[str]:
    return [n.strip() for n in (notes or "").split("; ") if n.strip()]


# (pattern at the note's start, badge kind, word): the notes join.py, the sessions and the
# runner write, most severe first. None as the kind: the note is about the whole session
# (the device's measurement line says it), not this row; it stays in the detail table.
NOTE_BADGES = (
    (r"THROTTLED", "bad", "throttled"),
    (r"accuracy flagged", "bad", "accuracy flagged"),
    (r"no counted round", "bad", "no quiet round"),
    (r"noisy latency", "warn", "noisy"),
    (r"p50 interval ±\S+ is wider than the target", "warn", "wide CI"),
    (r"\d+ round\(s\) dropped and repeated", "warn", "rounds dropped"),
    (r"cpu0 clock fell|temperature reached", "warn", "clock/heat"),
    (r"system busy before the run", "warn", "busy"),
    (r"within the noise of", "info", "tie"),
    (r"accuracy of this same file measured in", "info", "acc. runtime"),
    (r"accuracy measured at", "info", "acc. precision"),
    (r"budget ", "budget", "budget"),
    (r"measured in \d+ interleaved round", None, "session"),
)


def badges(r: S.ReportRow) -> list[Badge]:
    """The row's notes and flags as badges: one per kind of note, the rest as "notes"."""
    out: list[Badge] = []
    if r.emulated:
        out.append(Badge("bad", "emulated", r.emulated))
    rest = []
    for note in _split_notes(r.notes):
        hit = next(((k, w) for pat, k, w in NOTE_BADGES if re.match(pat, note)), None)
        if hit is None:
            rest.append(note)
        elif hit[0] is None:
            continue
        elif hit[0] == "budget":
            met = r.budget_met is not False
            out.append(Badge("ok" if met else "bad", "budget met" if met else "budget MISSED",
                             note))
        else:
            out.append(Badge(hit[0], hit[1], note))
    if r.p50_ms is not None and r.rounds is None:
        out.append(Badge("warn", "single run", "one timed block: its interval leaves out "
                                               "run-to-run variation; profile again"))
    if rest:
        out.append(Badge("info", "note" if len(rest) == 1 else f"{len(rest)} notes",
                         "; ".join(rest)))
    return out


def numbered(r: S.ReportRow, numbers: dict[str, int]) -> str:
    """``#3 heads −25% · MLP −50% onnx/fp32 · onnxruntime``: a row in lists under tables."""
    return (f"#{numbers.get(r.model_id, '?')} {variant(r)} {r.format}/{r.precision} · "
            f"{r.runtime or '-'}")


def variant_numbers(models: list[S.ModelProvenance], rows: list[S.ReportRow]
                    ) -> dict[str, int]:
    """model id -> its number in tables and plots: per architecture, unpruned first, then
    the larger (more MACs) before the smaller; rows without a manifest last."""
    macs = {r.model_id: r.macs for r in rows}
    known = sorted(models, key=lambda m: (m.architecture or "", m.pruned,
                                          -(macs.get(m.model_id) or 0), m.name or "",
                                          m.model_id))
    ids = [m.model_id for m in known]
    ids += sorted({r.model_id for r in rows} - set(ids))
    return {mid: i for i, mid in enumerate(ids, 1)}


def environment_line(env: S.DeviceEnvironment) -> str:
    """The device in one line: CPU, cores, architecture, OS, runtimes."""
    parts = [env.cpu_model, f"{env.cores_logical} cores" if env.cores_logical else None,
             env.machine, env.os,
             ", ".join(f"{k} {v}" for k, v in env.runtimes.items()) or None]
    return " · ".join(p for p in parts if p)


@dataclass(frozen=True)
class Column:
    title: str
    cell: Callable[[S.ReportRow], str]
    numeric: bool = False


RESULT_COLUMNS: tuple[Column, ...] = (
    Column("Pareto", lambda r: MARKS.get(r.pareto or "", "")),
    Column("variant", variant),
    Column("model", lambda r: r.model_id),
    Column("prune", prune_text),
    Column("params M", lambda r: millions(r.params), True),
    Column("GMACs", lambda r: giga(r.macs), True),
    Column("size MB", lambda r: megabytes(r.artifact_size_bytes), True),
    Column("format", lambda r: f"{r.format}/{r.precision}"),
    Column("runtime", lambda r: r.runtime or "-"),
    Column("ran as", lambda r: r.inference_precision or "-"),
    Column("p50 ms [95% CI]", lambda r: with_ci(r.p50_ms, r.p50_ci_low_ms, r.p50_ci_high_ms),
           True),
    Column("p90 ms", lambda r: num(r.p90_ms), True),
    Column("img/s", lambda r: num(r.throughput_ips, 1), True),
    Column("peak MB", lambda r: num(r.peak_rss_mb, 0), True),
    Column("mJ/inf", lambda r: num(r.energy_per_inference_mj, 1), True),
    Column("top-1 % [95% CI]",
           lambda r: with_ci(r.top1_pct, r.top1_ci_low_pct, r.top1_ci_high_pct), True),
    Column("top-5 %", lambda r: num(r.top5_pct), True),
    Column("speedup vs base", speedup, True),
    Column("Δ top-1 vs base (pts)", lambda r: signed(_neg(r.drop_vs_baseline_pts)), True),
    Column("Δ top-1 vs PyTorch ref (pts)", lambda r: signed(_neg(r.drop_vs_reference_pts)),
           True),
    Column("status", lambda r: r.status),
    Column("notes", lambda r: r.notes or ""),
)

# what a user decides by; RESULT_COLUMNS (the detail view, CSV and JSON) keep every field
MAIN_COLUMNS: tuple[Column, ...] = (
    Column("Pareto", lambda r: MARKS.get(r.pareto or "", "")),
    Column("variant", variant),
    Column("deployment", deployment),
    Column("p50 ms [95% CI]", lambda r: ms_ci(r.p50_ms, r.p50_ci_low_ms, r.p50_ci_high_ms),
           True),
    Column("speedup vs unpruned", speedup, True),
    Column("top-1 % [95% CI]",
           lambda r: with_ci(r.top1_pct, r.top1_ci_low_pct, r.top1_ci_high_pct, 1), True),
    Column("Δ top-1 (pts)", lambda r: signed(_neg(r.drop_vs_baseline_pts), 1), True),
    Column("size MB", lambda r: megabytes(r.artifact_size_bytes), True),
    Column("notes", lambda r: ", ".join(b.word for b in badges(r))),
)

FAILURE_COLUMNS: tuple[Column, ...] = (
    Column("variant", variant),
    Column("model", lambda r: r.model_id),
    Column("format", lambda r: f"{r.format}/{r.precision}"),
    Column("runtime", lambda r: r.runtime or "-"),
    Column("status", lambda r: r.status),
    Column("export", lambda r: r.export_status or "-"),
    Column("profile", lambda r: r.profile_status or "-"),
    Column("eval", lambda r: r.eval_status or "-"),
    Column("reason", lambda r: r.reason or ""),
)


def _neg(v: float | None) -> float | None:
    """Drops are stored as positive losses; tables show the change (negative = worse)."""
    return None if v is None else -v


def measured_rows(rows: list[S.ReportRow]) -> list[S.ReportRow]:
    """Rows with a latency, fastest first: the main table of a device."""
    return sorted((r for r in rows if r.p50_ms is not None),
                  key=lambda r: (r.p50_ms, r.model_id, r.format, r.precision))


def unmeasured_accuracy_rows(rows: list[S.ReportRow]) -> list[S.ReportRow]:
    """Rows with an accuracy but no latency; shown for the device-less rows only (on a
    device such a row failed to profile and is listed with the failures)."""
    return [r for r in rows if r.p50_ms is None and r.top1_pct is not None]


def failed_rows(rows: list[S.ReportRow]) -> list[S.ReportRow]:
    return [r for r in rows if r.status != S.OK]


def front_rows(rows: list[S.ReportRow]) -> list[S.ReportRow]:
    return sorted((r for r in rows if r.on_front), key=lambda r: (r.p50_ms, -(r.top1_pct or 0)))


def front_summary(r: S.ReportRow) -> str:
    tie = " (tied)" if r.pareto == S.TIED else ""
    sp = f", {r.speedup:.2f}× vs base" if r.speedup is not None else ""
    drop = (f", {signed(_neg(r.drop_vs_baseline_pts))} pts vs base"
            if r.drop_vs_baseline_pts is not None else "")
    return (f"{variant(r)} {r.format}/{r.precision} on {r.runtime}: p50 {ms(r.p50_ms)} ms, "
            f"top-1 {num(r.top1_pct)} %{sp}{drop}{tie}")
