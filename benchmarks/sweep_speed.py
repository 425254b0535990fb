"""The default sweep (`edge-vit sweep`, no grid options) three ways in one run, each from empty
caches: one unit after another (`--executor local --jobs 1`, as before executors), `--executor
local` (units at once up to the cores) and `--executor ray` (a Ray started on this machine).

Prints, per way: wall time and its ratio to the one-after-another run; busy cores on average
outside the profiling phases (/proc/stat, sampled); during the profiles, how many other units
overlapped them (must be 0) and the CPU that Ray's own processes used (raylet, GCS, idle
workers: everything Ray but the worker running the profile). Then checks that the three ran
the same units (same keys) and gave the same accuracy figures.

    .venv/bin/python benchmarks/sweep_speed.py [--ways sequential,local,ray] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from itertools import pairwise
from pathlib import Path

HZ = os.sysconf("SC_CLK_TCK")
WAYS = {"sequential": ["--executor", "local", "--jobs", "1"], "local": ["--executor", "local"],
        "ray": ["--executor", "ray"]}
RAY_NAMES = ("raylet", "gcs_server", "ray::", "/ray/", "default_worker", "log_monitor",
             "dashboard", "runtime_env")


def busy_jiffies() -> int:
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(f) - f[3] - f[4]  # all but idle and iowait


def ray_jiffies(exclude: set[int]) -> dict[int, int]:
    """CPU time so far of each Ray process but the excluded (the profile's worker)."""
    total = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) in exclude:
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if not any(n in cmd for n in RAY_NAMES):
                continue
            stat = (d / "stat").read_text().rsplit(")", 1)[1].split()
            total[int(d.name)] = int(stat[11]) + int(stat[12])  # utime, stime
        except OSError:
            continue
    return total


def descendants(pids: set[int]) -> set[int]:
    out, changed = set(pids), True
    while changed:
        changed = False
        for d in Path("/proc").iterdir():
            if d.name.isdigit() and int(d.name) not in out:
                try:
                    ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except OSError:
                    continue
                if ppid in out:
                    out.add(int(d.name))
                    changed = True
    return out


class Sampler(threading.Thread):
    def __init__(self, store: Path | None):
        super().__init__(daemon=True)
        self.store, self.samples, self.stop = store, [], threading.Event()

    def profile_pids(self) -> set[int]:
        if self.store is None:
            return set()
        pids = set()
        for m in (self.store / "started").glob("profile-*/*.json"):
            try:
                pids.add(json.loads(m.read_text())["pid"])
            except (OSError, ValueError):
                pass
        return descendants(pids) if pids else set()

    def run(self):
        while not self.stop.is_set():
            ray = ray_jiffies(self.profile_pids()) if self.store is not None else {}
            self.samples.append((time.time(), busy_jiffies(), ray))
            self.stop.wait(0.5)


def ts(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def run_way(way: str, base: Path) -> dict:
    out, cache = base / way / "sweep", base / way / "cache"
    env = {**os.environ, "EDGE_VIT_CACHE": str(cache), "RAY_USAGE_STATS_ENABLED": "0"}
    cmd = [sys.executable, "-m", "edge_vit", "sweep", "--out", str(out), *WAYS[way]]
    sampler = Sampler(out / ".store" if way == "ray" else None)
    t0 = time.time()
    sampler.start()
    log = (base / f"{way}.log").open("w")
    rc = subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
    wall = time.time() - t0
    sampler.stop.set()
    sampler.join()
    records = [json.loads(p.read_text()) for p in (out / "units").glob("*.json")]
    windows = [(ts(r["started"]), ts(r["finished"])) for r in records
               if r["kind"] in ("profile", "budget")]
    others = [(ts(r["started"]), ts(r["finished"])) for r in records
              if r["kind"] not in ("profile", "budget")]
    overlaps = sum(1 for a, b in others for s, e in windows if a < e and b > s)

    def inside(t):
        return any(s <= t <= e for s, e in windows)

    out_busy = out_time = in_time = ray_in = 0.0
    for (t1, b1, r1), (t2, b2, r2) in pairwise(sampler.samples):
        if inside(t1) and inside(t2):
            in_time += t2 - t1
            # per process: one that exited between two samples must not count as negative
            ray_in += sum(v - r1.get(pid, 0) for pid, v in r2.items()) / HZ
        elif not inside(t1) and not inside(t2):
            out_time += t2 - t1
            out_busy += (b2 - b1) / HZ
    acc = {}
    for p in sorted((out / "results" / "accuracy").rglob("*.json")):
        d = json.loads(p.read_text())
        acc[str(p.relative_to(out))] = (d.get("top1"), d.get("top5"), d.get("correct1"),
                                        d.get("total"))
    # exports' and fine-tunes' keys hash their inputs only; an eval's and a profile's also hash
    # the artifacts, and an OpenVINO IR's generated layer names depend on how many graphs the
    # process converted before (its weights do not), so those are compared by name only
    units = sorted(r["unit"] if r["kind"] in ("export", "finetune") else
                   r["unit"].rsplit("-", 1)[0] for r in records)
    return {"way": way, "rc": rc, "wall": wall, "units": units,
            "failed": [r["unit"] for r in records if r["status"] != "ok"],
            "busy_outside": out_busy / out_time if out_time else float("nan"),
            "profile_s": sum(e - s for s, e in windows), "overlaps": overlaps,
            "ray_cpu_in_profiles": ray_in / in_time if in_time else 0.0, "accuracy": acc}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ways", default="sequential,local,ray")
    ap.add_argument("--keep", type=Path, help="keep the sweeps here (default: a temp folder)")
    a = ap.parse_args()
    base = a.keep or Path(tempfile.mkdtemp(prefix="sweep-speed-"))
    base.mkdir(parents=True, exist_ok=True)
    print(f"# default sweep, {os.cpu_count()} cores; folders under {base}")
    results = []
    for way in a.ways.split(","):
        shutil.rmtree(base / way, ignore_errors=True)
        r = run_way(way, base)
        results.append(r)
        print(f"{way:>10}: rc {r['rc']}, {r['wall']:7.1f} s wall, {len(r['units'])} units "
              f"({len(r['failed'])} failed), {r['busy_outside']:.2f} busy cores outside "
              f"profiling, profiling {r['profile_s']:.0f} s, {r['overlaps']} unit(s) "
              f"overlapping a profile, Ray's processes {r['ray_cpu_in_profiles']:.3f} cores "
              "during profiles", flush=True)
    ref = results[0]
    print()
    for r in results[1:]:
        same_units = r["units"] == ref["units"]
        same_acc = r["accuracy"] == ref["accuracy"] and bool(ref["accuracy"])
        print(f"{r['way']} vs {ref['way']}: {ref['wall'] / r['wall']:.2f}x faster; same units: "
              f"{same_units}; same accuracy figures ({len(r['accuracy'])} results): "
              f"{same_acc}")
    bad = any(r["rc"] != 0 or r["overlaps"] for r in results)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
