"""The grid as a graph of units: what each unit needs before it can run.

Its shape is known before any work (every model, plan, budget, fine-tune, device), but a
unit's key is not: it hashes what its inputs became (the plan file a budget wrote, the weights
a fine-tune saved, the artifacts an export made). So each node makes its unit only when the
nodes it depends on have finished, from their records.

Order is the order a one-at-a-time run takes: per model its budgets, then per plan its export
and its fine-tunes with their exports; then one profile per device over every export; then
one evaluation per export.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..serialization import to_dict
from .config import BUDGET_DEFAULTS, UNPRUNED, ModelEntry, SweepConfig
from .units import Unit, UnitRecord
from .work import Job, rel, under

Make = Callable[[dict[str, UnitRecord]], "tuple[Unit, Job] | None"]


@dataclass
class Node:
    """``make(records)`` gets the ok records of ``deps`` and gives the unit and its job, or
    None when there is nothing to do. ``any_dep``: it runs when at least one dependency
    succeeded (a profile over the exports that worked), else only when all did."""

    id: str
    deps: list[str]
    make: Make
    any_dep: bool = False
    dependents: int = 0
    kind: str = ""


@dataclass
class _Graph:
    cfg: SweepConfig
    root: Path
    exclusive: Callable[[str], bool]  # device name -> its profile times this machine's CPU
    nodes: list[Node] = field(default_factory=list)
    exports: list[str] = field(default_factory=list)

    def add(self, kind: str, deps: list[str], make: Make, any_dep: bool = False) -> str:
        node = Node(f"{kind}#{len(self.nodes)}", list(deps), make, any_dep, kind=kind)
        self.nodes.append(node)
        return node.id


def build_graph(cfg: SweepConfig, root: Path, exclusive: Callable[[str], bool]) -> list[Node]:
    g = _Graph(cfg, Path(root), exclusive)
    for model in cfg.models:
        plans: list[tuple[str, str | None]] = [(p, None) for p in cfg.prune]
        for b in cfg.budget:  # a budget becomes a plan file, then runs like a plan
            plans.append(_budget(g, model, b))
        for plan, by in plans:
            _export(g, model, plan, by)
            if plan == UNPRUNED:
                continue
            for epochs in sorted({e for e in cfg.finetune if e > 0}):
                _finetuned(g, model, plan, by, epochs)
    for device in cfg.devices:
        _profile(g, device)
    if cfg.data:
        for e in list(g.exports):
            _eval(g, e)
    by_id = {n.id: n for n in g.nodes}
    for n in g.nodes:
        for d in n.deps:
            by_id[d].dependents += 1
    return g.nodes


def _budget(g: _Graph, model: ModelEntry, budget: str) -> tuple[str, str]:
    cfg = g.cfg
    o = {**BUDGET_DEFAULTS, **cfg.budget_options}
    o["device"] = o["device"] or cfg.devices[0]
    u = Unit("budget", model.name, (to_dict(model), budget, o, cfg.criterion, cfg.calib,
                                    cfg.profile))
    plan = g.root / "budget" / f"{model.name}-{u.key}.json"

    def make(recs):
        return u, Job(u.name, "budget", {"model": to_dict(model), "budget": budget,
                                         "options": o, "plan": rel(g.root, plan)},
                      device=o["device"], exclusive=g.exclusive(o["device"]))

    nid = g.add("budget", [], make)
    return str(plan), nid


def _export(g: _Graph, model: ModelEntry, plan: str, by: str | None) -> None:
    cfg = g.cfg

    def make(recs):
        if by is not None and not Path(plan).is_file():
            return None  # the budget finished without a plan: its record says why
        u = Unit("export", model.name, (to_dict(model), plan_input(plan), cfg.formats,
                                        cfg.precisions, cfg.criterion, cfg.calib),
                 tuple(recs[by].unit for _ in [by] if by is not None))
        seeds = [rel(g.root, Path(plan))] if by is not None else []
        return u, Job(u.name, "export", {"model": to_dict(model), "plan": _arg_plan(g, plan)},
                      seeds=seeds)

    g.exports.append(g.add("export", [by] if by else [], make))


def _finetuned(g: _Graph, model: ModelEntry, plan: str, by: str | None, epochs: int) -> None:
    cfg = g.cfg
    seeds = [rel(g.root, Path(plan))] if by is not None else []

    def make_ft(recs):
        if by is not None and not Path(plan).is_file():
            return None
        u = Unit("finetune", model.name, (to_dict(model), plan_input(plan), cfg.criterion,
                                          cfg.calib, epochs, cfg.finetune_data,
                                          cfg.finetune_options, cfg.labels),
                 tuple(recs[by].unit for _ in [by] if by is not None))
        folder = g.root / "finetuned" / f"{model.name}-{u.key}-kd{epochs}"
        return u, Job(u.name, "finetune", {"model": to_dict(model), "plan": _arg_plan(g, plan),
                                           "epochs": epochs, "folder": rel(g.root, folder)},
                      seeds=seeds)

    ft = g.add("finetune", [by] if by else [], make_ft)

    def make_export(recs):
        folder = under(g.root, recs[ft].outputs["folder"])
        u = Unit("export", folder.name, (cfg.formats, cfg.precisions, cfg.calib,
                                         weights_hash(folder)), (recs[ft].unit,))
        return u, Job(u.name, "export", {"model": to_dict(model),
                                         "finetuned": rel(g.root, folder)},
                      seeds=[rel(g.root, folder)])

    g.exports.append(g.add("export", [ft], make_export))


def _profile(g: _Graph, device: str) -> None:
    exports = list(g.exports)

    def make(recs):
        made = [recs[e] for e in exports if e in recs]
        folders = [under(g.root, r.outputs["manifest_dir"]) for r in made]
        # settings and the exported files are part of the unit, so a new or re-exported
        # variant measures again (its results already measured the same way are kept)
        u = Unit("profile", device, (g.cfg.profile, sorted(artifact_hashes(m)
                                                           for m in folders)),
                 tuple(r.unit for r in made))
        dirs = [rel(g.root, f) for f in folders]
        results = g.root / "results" / device
        return u, Job(u.name, "profile", {"device": device, "manifest_dirs": dirs},
                      device=device, exclusive=g.exclusive(device),
                      seeds=dirs + ([rel(g.root, results)] if results.exists() else []))

    g.add("profile", exports, make, any_dep=True)


def _eval(g: _Graph, export_node: str) -> None:
    cfg = g.cfg

    def make(recs):
        mdir = under(g.root, recs[export_node].outputs["manifest_dir"])
        u = Unit("eval", mdir.name, (cfg.data, cfg.limit, cfg.labels, artifact_hashes(mdir)),
                 (recs[export_node].unit,))
        return u, Job(u.name, "eval", {"manifest_dir": rel(g.root, mdir)},
                      seeds=[rel(g.root, mdir)])

    g.add("eval", [export_node], make)


def _arg_plan(g: _Graph, plan: str) -> str:
    return rel(g.root, Path(plan)) if plan.endswith((".json", ".yaml", ".yml")) \
        and Path(plan).is_file() else plan


def plan_input(plan: str) -> str | list:
    """A plan as a unit's input: a plan file with its content's hash (a budget re-allocated
    to other units is other work), a plan string as it is."""
    from ..files import file_sha256

    path = Path(plan)
    return [plan, file_sha256(path)] if path.suffix in (".json", ".yaml", ".yml") \
        and path.is_file() else plan


def weights_hash(folder: Path) -> str:
    """sha256 of a pruned-model folder's weights ("missing" if gone: its export then fails
    in its own unit, with a message, instead of stopping the sweep)."""
    from ..files import file_sha256
    from ..pruning.spec import WEIGHTS_FILE

    path = folder / WEIGHTS_FILE
    return file_sha256(path) if path.is_file() else "missing"


def artifact_hashes(manifest_dir: Path) -> list:
    from ..manifest import read_manifest

    m = read_manifest(manifest_dir)
    return sorted((a.format, a.precision, a.status, a.sha256) for a in m.artifacts)
