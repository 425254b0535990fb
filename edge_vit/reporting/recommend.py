"""What to ship on each device: the most accurate row under each latency budget, and the
fastest row within a point of the unpruned model, each with what the noise leaves open.

Per device and architecture. The **reference** is the fastest unpruned fp32 row measured
there (any format and runtime): budgets given as shares ("0.5x") are shares of its p50, and
"within N points" is of its top-1. Candidates are rows with status ok, a p50 and a top-1,
exported artifacts only (a PyTorch row is a reference, not something to ship) and not from
an emulated CPU (unless asked). Latency comparisons are the report's own: paired rounds for
rows of one profile session, p50 intervals otherwise (:mod:`edge_vit.reporting.compare`).
Accuracy is compared by its 95 % intervals: overlapping intervals are "as accurate within
the noise" — the eval set cannot order them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..errors import UsageError
from . import schema as S
from .columns import num, with_ci
from .compare import Comparison

DEFAULT_UNDER = ("0.5x", "0.75x")
DEFAULT_WITHIN_PTS = 1.0
BUDGET = "budget"
NEAR_BASELINE = "near-baseline"
LISTED = 3  # alternatives named in one sentence; the rest are counted

Compare = Callable[[S.ReportRow, S.ReportRow], "Comparison | None"]  # a / b latency


def parse_under(budgets: Sequence[str]) -> list[tuple[str, float, bool]]:
    """(as asked, value, relative) per budget; a bad one fails before any work."""
    from ..lut.budget import parse_budget

    return [(str(b), *parse_budget(b)) for b in budgets]


def check_within_pts(within_pts: float | None) -> None:
    if within_pts is not None and not within_pts >= 0:
        raise UsageError(f"The 'within N points' margin is top-1 points at or above 0, not "
                         f"{within_pts!r}.")


def recommend(rows: list[S.ReportRow], cmp: Compare, under: Sequence[str] = DEFAULT_UNDER,
              within_pts: float = DEFAULT_WITHIN_PTS, include_emulated: bool = False
              ) -> list[S.Recommendation]:
    """The recommendations of one device's rows."""
    device = next((r.device for r in rows if r.device is not None), None)
    if device is None:
        return []
    budgets = parse_under(under)
    measured = [r for r in rows if r.status == S.OK and r.p50_ms and r.top1_pct is not None]
    if measured and not include_emulated and all(r.emulated for r in measured):
        return [S.Recommendation(
            device=device, goal=BUDGET, title="No recommendation",
            reason=f"{measured[0].emulated}: a variant chosen from these latencies would be "
                   "chosen from the emulator (report --include-emulated makes one anyway).")]
    cands = [r for r in measured if include_emulated or not r.emulated]
    shipped = [r for r in cands if r.format != "pytorch"]
    cands = shipped or cands
    if not cands:
        return [S.Recommendation(device=device, goal=BUDGET, title="No recommendation",
                                 reason="no row here has both a latency and a top-1")]
    out = []
    groups: dict[str | None, list[S.ReportRow]] = {}
    for r in cands:
        groups.setdefault(r.architecture or r.baseline_model_id, []).append(r)
    for arch, group in sorted(groups.items(), key=lambda kv: str(kv[0])):
        ref = _reference(group)
        for asked, value, relative in budgets:
            out.append(_under_budget(device, arch, group, ref, asked, value, relative, cmp))
        out.append(_near_baseline(device, arch, group, ref, within_pts, cmp))
    return out


def _reference(rows: list[S.ReportRow]) -> S.ReportRow | None:
    unpruned = [r for r in rows if not r.pruned]
    fp32 = [r for r in unpruned if r.precision == "fp32"] or unpruned
    return min(fp32, key=lambda r: r.p50_ms) if fp32 else None


def describe(r: S.ReportRow) -> str:
    return f"{r.name or r.model_id} ({r.format}/{r.precision} on {r.runtime})"


def _figures(r: S.ReportRow) -> str:
    return (f"p50 {with_ci(r.p50_ms, r.p50_ci_low_ms, r.p50_ci_high_ms, 3)} ms, top-1 "
            f"{with_ci(r.top1_pct, r.top1_ci_low_pct, r.top1_ci_high_pct, 1)} %")


def _vs_ref(r: S.ReportRow, ref: S.ReportRow | None, cmp: Compare) -> str:
    if ref is None or r is ref:
        return ""
    c = cmp(r, ref)
    if c is None:
        return ""
    ci = f" [{c.low:.2f}, {c.high:.2f}]" if c.low is not None and c.high is not None else ""
    return f", {c.ratio:.2f}×{ci} the reference's p50"


def _summary(r: S.ReportRow, ref: S.ReportRow | None, cmp: Compare) -> str:
    return f"{describe(r)}: {_figures(r)}{_vs_ref(r, ref, cmp)}"


def _overlap(a: S.ReportRow, b: S.ReportRow) -> bool:
    """Top-1 intervals overlap (rows without one compare by point estimate)."""
    def span(r: S.ReportRow) -> tuple[float, float]:
        if r.top1_ci_low_pct is None or r.top1_ci_high_pct is None:
            return r.top1_pct, r.top1_pct
        return r.top1_ci_low_pct, r.top1_ci_high_pct

    (alo, ahi), (blo, bhi) = span(a), span(b)
    return alo <= bhi and blo <= ahi


def faster(cmp: Compare, q: S.ReportRow, p: S.ReportRow) -> bool:
    """q is faster than p beyond the noise."""
    c = cmp(p, q)
    return c is not None and c.a_slower


def _names(rows: list[S.ReportRow], extra: Callable[[S.ReportRow], str]) -> str:
    shown = [f"{describe(r)}{extra(r)}" for r in rows[:LISTED]]
    more = len(rows) - LISTED
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def _title_budget(value: float, relative: bool, budget_ms: float | None) -> str:
    if relative:
        ms = f" (≤ {num(budget_ms, 3)} ms)" if budget_ms is not None else ""
        return f"Most accurate within {value:g}× the unpruned p50{ms}"
    return f"Most accurate within {value:g} ms p50"


def _under_budget(device: str, arch: str | None, rows: list[S.ReportRow],
                  ref: S.ReportRow | None, asked: str, value: float, relative: bool,
                  cmp: Compare) -> S.Recommendation:
    budget_ms = value * ref.p50_ms if relative and ref is not None else (
        None if relative else value)
    rec = S.Recommendation(device=device, goal=BUDGET, architecture=arch,
                           title=_title_budget(value, relative, budget_ms),
                           reference=ref.label if ref else None, budget=asked,
                           budget_ms=budget_ms)
    if budget_ms is None:
        rec.reason = "no unpruned fp32 row was measured here, so a share of its p50 is unknown"
        return rec
    inside = [r for r in rows if r.p50_ms <= budget_ms]
    if not inside:
        fastest = min(rows, key=lambda r: r.p50_ms)
        rec.reason = (f"nothing measured here runs within {num(budget_ms, 3)} ms; the fastest "
                      f"is {describe(fastest)} at p50 {num(fastest.p50_ms, 3)} ms")
        return rec
    pick = max(inside, key=lambda r: (r.top1_pct, -r.p50_ms))
    rec.pick, rec.summary = pick.label, _summary(pick, ref, cmp)
    if pick.p50_ci_high_ms is not None and pick.p50_ci_high_ms > budget_ms:
        rec.unresolved.append(f"its p50 interval reaches {num(pick.p50_ci_high_ms, 3)} ms, "
                              "past the budget: another run may miss it")
    alike = sorted((r for r in inside if r is not pick and _overlap(r, pick)),
                   key=lambda r: r.p50_ms)
    if alike:
        quicker = [r for r in alike if faster(cmp, r, pick)]
        text = ("as accurate within the noise (top-1 intervals overlap): "
                + _names(alike, lambda r: f", top-1 {num(r.top1_pct, 1)} %"))
        if quicker:
            text += (f" — {describe(quicker[0])} is also faster beyond the noise "
                     f"(p50 {num(quicker[0].p50_ms, 3)} ms)")
        rec.unresolved.append(text)
    near = sorted((r for r in rows if r.p50_ms > budget_ms and r.p50_ci_low_ms is not None
                   and r.p50_ci_low_ms <= budget_ms and r.top1_pct > pick.top1_pct),
                  key=lambda r: -r.top1_pct)
    if near:
        rec.unresolved.append(
            "more accurate, with a p50 interval that reaches under the budget (the noise "
            "cannot rule it in or out): " + _names(
                near, lambda r: f", p50 {with_ci(r.p50_ms, r.p50_ci_low_ms, r.p50_ci_high_ms, 3)}"
                                f" ms, top-1 {num(r.top1_pct, 1)} %"))
    return rec


def _near_baseline(device: str, arch: str | None, rows: list[S.ReportRow],
                   ref: S.ReportRow | None, within: float, cmp: Compare
                   ) -> S.Recommendation:
    rec = S.Recommendation(device=device, goal=NEAR_BASELINE, architecture=arch,
                           title=f"Fastest within {within:g} point{'s' * (within != 1)} of "
                                 "the unpruned top-1",
                           reference=ref.label if ref else None, within_pts=within)
    if ref is None:
        rec.reason = "no unpruned fp32 row was measured here to compare accuracy with"
        return rec
    floor = ref.top1_pct - within
    ok = [r for r in rows if r.top1_pct >= floor]
    pick = min(ok, key=lambda r: (r.p50_ms, -r.top1_pct))
    rec.pick, rec.summary = pick.label, _summary(pick, ref, cmp)
    if pick is ref:
        rec.unresolved.append("no variant is faster within the margin: the reference itself")
    ties = sorted((r for r in ok if r is not pick and not faster(cmp, pick, r)),
                  key=lambda r: r.p50_ms)
    if ties:
        rec.unresolved.append("not slower beyond the noise, so as good a pick: " + _names(
            ties, lambda r: f", p50 {num(r.p50_ms, 3)} ms"))
    half = _half_width(pick)
    if half is not None and half > within and pick is not ref:
        rec.unresolved.append(
            f"its top-1 interval is ±{half:.1f} pts on {pick.eval_images or '?'} images, wider "
            f"than the {within:g}-point margin: the eval set cannot confirm it is within "
            f"{within:g} of the reference ({num(ref.top1_pct, 1)} %)")
    out = sorted((r for r in rows if r.top1_pct < floor and faster(cmp, r, pick)
                  and r.top1_pct >= floor - (_half_width(r) or 0.0)), key=lambda r: r.p50_ms)
    if out:
        rec.unresolved.append(
            "faster beyond the noise, and short of the margin by less than its top-1 "
            "interval: " + _names(out, lambda r: f", p50 {num(r.p50_ms, 3)} ms, "
                                                 f"{r.top1_pct - ref.top1_pct:+.1f} pts"))
    return rec


def _half_width(r: S.ReportRow) -> float | None:
    if r.top1_ci_low_pct is None or r.top1_ci_high_pct is None:
        return None
    return (r.top1_ci_high_pct - r.top1_ci_low_pct) / 2
