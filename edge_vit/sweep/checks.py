"""Every cell of the grid checked before any work (a mixin of :class:`.run.Sweep`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import EdgeVitError, UsageError
from .config import UNPRUNED
from .work import export_options, model_options


class GridChecks:
    def _check_grid(self) -> None:
        """Every cell of the grid (models, pruning plans, formats, precisions, devices, data
        paths) checked before any work, all problems reported at once: an impossible plan is
        found now, not after the other units ran for an hour."""
        from devices import get_device_config

        from ..export import check_options
        from ..model_options import resolve_plan
        from ..models import create_model
        from ..pruning import validate_plan

        cfg, problems = self.cfg, []

        def check(what: str, fn) -> Any:
            try:
                return fn()
            except EdgeVitError as exc:
                problems.append(f"{what}: {exc}" + (f" ({exc.hint})" if exc.hint else ""))
                return None

        for key in ("data", "calib", "finetune_data"):
            value = getattr(cfg, key)
            if value and not Path(value).exists():
                problems.append(f"{key}: {value} does not exist")
        for model in cfg.models:
            if model.checkpoint and not Path(model.checkpoint).is_file():
                problems.append(f"model {model.name}: checkpoint {model.checkpoint} does not "
                                "exist")
            pruned_folder = (Path(model.name) / "prune_spec.json").is_file()
            net = None if pruned_folder else check(
                f"model {model.name}", lambda m=model: create_model(m.name, m.model_kwargs))
            check("formats/precisions", lambda m=model: check_options(
                export_options(cfg, self.root, m, None)))
            for plan in cfg.prune:
                if plan == UNPRUNED:
                    continue
                if pruned_folder:
                    problems.append(f"prune {plan!r}: {model.name} is already pruned")
                    continue
                parsed = check(f"prune {plan!r}",
                               lambda m=model, p=plan: resolve_plan(
                                   model_options(cfg, m, p)))
                if parsed is not None and net is not None:
                    check(f"prune {plan!r} on {model.name}", lambda p=parsed, n=net:
                          validate_plan(p, n))
        for device in cfg.devices:
            check(f"device {device}", lambda d=device: get_device_config(d, cfg.inventory))
        problems += self._budget_problems(check)
        from ..reporting.recommend import check_within_pts, parse_under

        if cfg.recommend_under is not None:
            check("recommend_under", lambda: parse_under(cfg.recommend_under))
        check("recommend_within_pts", lambda: check_within_pts(cfg.recommend_within_pts))
        if problems:
            unique = list(dict.fromkeys(problems))
            raise UsageError(f"The sweep grid has {len(unique)} problem(s), found before any "
                             "work:\n  - " + "\n  - ".join(unique))

    def _budget_problems(self, check) -> list[str]:
        from ..lut.budget import parse_budget
        from .config import BUDGET_DEFAULTS

        cfg, problems = self.cfg, []
        if not cfg.budget:
            return problems
        for b in cfg.budget:
            check(f"budget {b!r}", lambda b=b: parse_budget(b))
        opts = cfg.budget_options
        bad = sorted(set(opts) - set(BUDGET_DEFAULTS))
        if bad:
            problems.append(f"budget_options: unknown {bad}; known: {sorted(BUDGET_DEFAULTS)}")
        o = {**BUDGET_DEFAULTS, **opts}
        if o["metric"] not in ("p50", "p90"):
            problems.append(f"budget_options: metric is p50 or p90, not {o['metric']!r}")
        m = o["margin"]
        if m is not None and (isinstance(m, bool) or not isinstance(m, (int, float))
                              or not 0 <= m < 1):
            problems.append(f"budget_options: margin is a share in [0, 1) or absent, not {m!r}")
        if o["device"] is not None:
            from devices import get_device_config

            check(f"budget device {o['device']}",
                  lambda: get_device_config(o["device"], cfg.inventory))
        from ..lut.build import FORMAT_OF

        if o["runtime"] not in FORMAT_OF:
            problems.append(f"budget_options: no latency table for runtime {o['runtime']!r} "
                            f"(one of {', '.join(FORMAT_OF)})")
        elif FORMAT_OF[o["runtime"]] not in cfg.formats:
            problems.append(f"budget_options: the budget runtime {o['runtime']} runs "
                            f"{FORMAT_OF[o['runtime']]}, which is not among formats "
                            f"{cfg.formats}: the budget could not be checked")
        if any((Path(m.name) / "prune_spec.json").is_file() for m in cfg.models):
            problems.append("budget: a pruned-model folder cannot be pruned to a budget")
        return problems

    def _check_profile(self) -> None:
        """Impossible profile settings fail before any export runs."""
        from ..profiling import ProfileSettings

        try:
            ProfileSettings(**self.cfg.profile)
        except TypeError as exc:
            raise UsageError(f"Bad profile settings {self.cfg.profile}: {exc}") from exc

    # -- recovery fine-tuning -----------------------------------------------------------------
    def _check_finetune(self) -> None:
        if self.cfg.calib and self.cfg.data and _overlap(self.cfg.calib, self.cfg.data):
            raise UsageError("calib is the evaluation data: int8 calibrated on the images it "
                             "is scored on would overstate its accuracy.",
                             hint="Calibrate on training images (e.g. a train split).")
        if not any(e > 0 for e in self.cfg.finetune):
            return
        if any(not isinstance(e, int) or e < 0 for e in self.cfg.finetune):
            raise UsageError(f"finetune must list epoch counts >= 0, got {self.cfg.finetune}")
        if not self.cfg.finetune_data:
            raise UsageError("finetune epochs are set but no finetune_data (training images).")
        if self.cfg.data and _overlap(self.cfg.finetune_data, self.cfg.data):
            raise UsageError("finetune_data is the evaluation data: fine-tuning on the images "
                             "it is scored on would overstate what recovery buys.")
        from ..training import TrainConfig

        known = set(TrainConfig.__dataclass_fields__) - {"epochs"} | {"split", "labels",
                                                                     "limit"}
        bad = sorted(set(self.cfg.finetune_options) - known)
        if bad:
            raise UsageError(f"Unknown finetune option(s) {bad}; known: {sorted(known)} "
                             "(epochs come from the finetune list)")


def _overlap(a: str, b: str) -> bool:
    """Whether two image sets (folders or archives) are the same or one holds the other."""
    from ..data.archive import resolve_data_root

    ra, rb = (resolve_data_root(Path(p)).resolve() if Path(p).exists() else Path(p).resolve()
              for p in (a, b))
    return ra == rb or ra in rb.parents or rb in ra.parents
