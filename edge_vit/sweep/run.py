"""Running the grid: each unit once its inputs exist, skipped when its record says ok, on the
configured executor; the driver writes every record."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

from .. import interrupts
from ..serialization import from_dict, write_json_atomic
from .checks import GridChecks
from .config import SweepConfig
from .executors import Ready
from .graph import Node, build_graph
from .placement import measures_this_machine
from .units import SweepSummary, Unit, UnitRecord
from .work import Outcome

log = logging.getLogger(__name__)


class Sweep(GridChecks):
    def __init__(self, config: SweepConfig, progress: Callable[[str], None] | None = None):
        self.cfg = config
        self.root = config.out_dir
        self.say = progress or log.info
        self.summary = SweepSummary(out_dir=self.root)

    # -- unit bookkeeping (the driver is the only writer of records) ---------------------
    def _marker(self, unit: str) -> Path:
        return self.root / "units" / f"{unit}.json"

    def _done(self, unit: str) -> UnitRecord | None:
        p = self._marker(unit)
        if not p.exists():
            return None
        try:
            rec = from_dict(UnitRecord, json.loads(p.read_text()))
        except (json.JSONDecodeError, TypeError):
            return None  # a torn marker cannot exist (atomic writes), but never trust one
        return rec if rec.status == "ok" else None

    def _record(self, u: Unit, out: Outcome) -> UnitRecord:
        ok = out.error is None
        rec = UnitRecord(unit=u.name, kind=u.kind, status="ok" if ok else "failed",
                         outputs=out.outputs or {} if ok else {}, error=out.error,
                         seconds=out.seconds, started=out.started, finished=out.finished,
                         after=list(u.after), host=out.host, attempts=out.attempts,
                         node=out.node)
        if not ok:
            self.summary.failed.append(rec)
            self.say(f"! {u.name}: {out.error}")
        write_json_atomic(self._marker(u.name), rec)
        self.summary.ran.append(u.name)
        return rec

    # -- the grid ---------------------------------------------------------------------------
    def run(self) -> SweepSummary:
        from .executors import make_executor

        self._check_finetune()  # every check before the first file is written
        self._check_profile()
        self._check_grid()
        executor = make_executor(self.cfg, self.root, self.say)  # says what is missing
        self.root.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.root / "sweep.json", self.cfg)
        nodes = build_graph(self.cfg, self.root, self._exclusive)
        with executor:
            self._schedule(nodes, executor)
        if not self.cfg.data:
            self.say("note: no evaluation data given (--data): the report has latency only")
        self.summary.report = self._report()
        return self.summary

    def _exclusive(self, device: str) -> bool:
        from devices import get_device_config

        return measures_this_machine(get_device_config(device, self.cfg.inventory))

    def _schedule(self, nodes: list[Node], executor) -> None:
        """Make each node's unit once its dependencies are done, skip it when its record says
        ok, hand the rest to the executor as it allows, write each record as it comes back."""
        recs: dict[str, UnitRecord | None] = {}  # node id -> record (None: nothing to run)
        ready: list[Ready] = []
        running: dict[str, Ready] = {}  # unit name -> what runs
        waiting = list(nodes)
        while True:
            interrupts.check()  # a Ctrl-C something swallowed: stop before the next unit
            progressed = True
            while progressed:
                progressed = False
                for node in list(waiting):
                    if any(d not in recs for d in node.deps):
                        continue
                    waiting.remove(node)
                    progressed = True
                    oks = {d: recs[d] for d in node.deps if recs[d] is not None
                           and recs[d].status == "ok"}
                    if (not oks if node.any_dep else len(oks) < len(node.deps)):
                        recs[node.id] = None
                        continue
                    made = node.make(oks)
                    if made is None:
                        recs[node.id] = None
                        continue
                    unit, job = made
                    done = self._done(unit.name)
                    if done is not None:
                        self.summary.skipped.append(unit.name)
                        self.say(f"= {unit.name}: done earlier, skipped")
                        recs[node.id] = done
                    else:
                        ready.append(Ready(node, unit, job))
            while (pick := executor.pick(ready, list(running.values()))) is not None:
                ready.remove(pick)
                running[pick.unit.name] = pick
                self.say(f"> {pick.unit.name}")
                executor.submit(pick.job)
            if not running:
                break
            for name, outcome in executor.wait(timeout=0.5):
                r = running.pop(name)
                recs[r.node.id] = self._record(r.unit, outcome)

    def _report(self) -> dict[str, Path]:
        from ..reporting import build_report, write_report

        artifacts = self.root / "artifacts"
        if not artifacts.exists():
            return {}
        report = build_report([artifacts], self.root / "results",
                              self.root / "results" / "accuracy",
                              under=self.cfg.recommend_under,
                              within_pts=self.cfg.recommend_within_pts)
        written = write_report(report, self.root / "report")
        for kind, path in written.items():
            self.say(f"report ({kind}): {path}")
        return written


def run_sweep(config: SweepConfig, progress: Callable[[str], None] | None = None
              ) -> SweepSummary:
    return Sweep(config, progress).run()


