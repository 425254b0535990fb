"""One table per breakdown, shared by the CLI, the Markdown and the HTML report: a row per
embedding, block, final norm, head, fused span and "other"; per block its attention, MLP and
the rest (norms, residual adds), each as share of time next to share of MACs."""

from __future__ import annotations

from .result import GroupShare, LayerProfile

COLUMNS = ("group", "time ms", "time % [min-max]", "MACs %", "attention time/MACs %",
           "MLP time/MACs %", "norms+residual time %", "ops (fused, by neighbours)")
LEGEND = ("Per-op times from each runtime's own profiler, in runs of their own (profiling slows "
          "them: never latency figures), each op attributed to the group its node name says; "
          "time % is the group's share of the ops' summed time (median over fresh processes, "
          "[lowest-highest]); MACs % its share of the MatMul/Gemm/Conv MACs counted on the "
          "model's ONNX graph (norms, GELU, softmax and adds count none). A share of time far "
          "above the share of MACs is where pruning MACs gains least.")
NAMES = {"embed": "patch embedding (+cls, pos)", "norm": "final norm", "head": "head",
         "fused": "fused across groups", "other": "other (not attributed)"}


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}"


def _pair(g: GroupShare | None) -> str:
    return "-" if g is None else f"{_pct(g.share)} / {_pct(g.macs_share)}"


def rows(p: LayerProfile) -> list[list[str]]:
    """One row per group of ``p.summary``; a block's halves from ``p.groups``."""
    halves: dict[str, dict[str, GroupShare]] = {}
    for g in p.groups:
        halves.setdefault(g.group, {})[g.part] = g
    out = []
    for g in p.summary:
        part = halves.get(g.group, {})
        if g.group.startswith("blocks."):
            name = f"block {g.group.split('.')[1]}"
            rest = [part[k] for k in ("norms", "residual", "fused") if k in part]
            cells = [_pair(part.get("attn")), _pair(part.get("mlp")),
                     _pct(sum(x.share for x in rest)) if rest else "-"]
        else:
            name = NAMES.get(g.group, g.group)
            if g.group == "fused":
                name += ": " + ", ".join(x.part for x in p.parts if x.group == "fused")
            cells = ["", "", ""]
        out.append([name, f"{g.ms:.3f}", f"{_pct(g.share)} [{_pct(g.share_min)}-"
                    f"{_pct(g.share_max)}]", _pct(g.macs_share), *cells,
                    f"{g.ops} ({g.fused_ops}, {g.by_neighbours})"])
    return out


def title(p: LayerProfile) -> str:
    a = p.artifact
    head = f"{a.model_id} {a.format}/{a.precision} on {p.device_name}: {p.runtime}"
    if p.status != "ok":
        return f"{head}: {p.status.upper()}: {p.error}"
    run = f" {p.runtime_version or ''} ({p.inference_precision or '?'}, {p.threads or '-'} " \
          f"threads)"
    n = len(p.rounds)
    runs = p.rounds[0].runs if p.rounds else 0
    return (f"{head}{run}; {n} round(s) x {runs} profiled runs; other "
            f"{_pct(p.other_share)} %")


def print_breakdowns(profiles: list[LayerProfile], console) -> None:
    from rich.table import Table

    for p in profiles:
        if p.status != "ok":
            console.print(f"layers: {title(p)}")
            continue
        t = Table(title=f"where the time goes: {title(p)}")
        for col in COLUMNS:
            t.add_column(col, overflow="fold")
        for row in rows(p):
            t.add_row(*row)
        console.print(t)
        for n in p.notes:
            console.print(f"  note: {n}")
