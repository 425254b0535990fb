"""A Ray cluster: exports, fine-tunes and evaluations are Ray tasks with resource requests;
each device is one named Ray actor that runs its units one at a time.

The actor is the device's lock for the whole cluster: named after the device (and its host),
created once and shared by every sweep that uses it, so two drivers never profile one board at
once, while different boards profile in parallel. A node that offers the custom resource
``device:<name>`` (``ray start --resources '{"device:pi4": 1}'`` on the machine the board
hangs off) gets that device's actor. A device that measures its node's own CPU (``local``, a
loopback board) reserves every CPU of that node for the unit, so Ray schedules nothing beside
it there.

Files travel through the :class:`~edge_vit.sweep.store.Store` by content hash; a task works in
a scratch folder and sends back what it wrote; the driver unpacks it into the sweep folder
and writes the unit's record, so resuming is as on one machine. A worker that dies mid-unit
is retried by Ray (``max_retries``); each attempt is in the store under ``started/``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ... import __version__
from ...errors import ClusterUnreachableError, MissingRuntimeError, UsageError
from ...serialization import from_dict, to_dict
from ..store import Store, copy_tree
from ..work import Job, Outcome, run_job
from . import WORKER_ENV

DEFAULT_RESOURCES = {"export": {"num_cpus": 1}, "finetune": {"num_cpus": 1},
                     "eval": {"num_cpus": 1}, "budget": {"num_cpus": 1},
                     "profile": {"num_cpus": 1}}
RETRIES = 2  # a worker that dies mid-unit: its unit runs again, this many times at most


def _import_ray():
    try:
        import ray
    except ImportError as exc:
        raise MissingRuntimeError(
            "--executor ray needs Ray, which is not installed here.",
            hint="pip install 'edge-vit[ray]' (on the driver and on every node of the "
                 "cluster), or use --executor local") from exc
    return ray


def _answers(address: str, timeout: float = 5.0) -> None:
    """Fail at once on a cluster address nobody listens at: ray.init would retry for minutes.
    Only host:port (or ray://host:port) is checked; "auto" and the like are Ray's to resolve."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ClusterUnreachableError(
            f"No Ray cluster answers at {address}: {exc.strerror or exc}",
            hint="start one (`ray start --head --port=6379`) or fix --ray-address / "
                 "$RAY_ADDRESS; without an address the sweep starts a Ray of its own") from exc


class RayExecutor:
    def __init__(self, cfg, root: Path, say: Callable[[str], None]):
        unknown = sorted(set(cfg.ray_resources) - set(DEFAULT_RESOURCES))
        if unknown:  # a typo would otherwise leave that kind at 1 CPU without a word
            raise UsageError(f"ray_resources names unknown unit kind(s) {', '.join(unknown)}; "
                             f"the kinds are: {', '.join(DEFAULT_RESOURCES)}")
        self.ray = _import_ray()
        self.cfg, self.root, self.say = cfg, Path(root), say
        self.store_url = cfg.ray_store or str((self.root / ".store").resolve())
        self.refs: dict = {}  # ObjectRef -> unit name
        self.actors: dict[str, object] = {}
        self.shipped_cfg = to_dict(_absolute(cfg))
        # Ray sets OMP_NUM_THREADS to a task's num_cpus, and a fine-tune's result depends on
        # its thread count (summation order): pin it to what it would be on the driver, so a
        # sweep gives the same weights and accuracy on Ray as on this machine
        fo = self.shipped_cfg.setdefault("finetune_options", {})
        if not fo.get("threads"):
            import torch

            fo["threads"] = torch.get_num_threads()

    def __enter__(self):
        ray = self.ray
        address = self.cfg.ray_address or os.environ.get("RAY_ADDRESS")
        kw = {} if address else {"include_dashboard": False}
        if address:
            _answers(address)
        # the job's runtime_env: in a worker's environment before torch loads there
        ray.init(address=address, namespace="edge-vit", logging_level="WARNING",
                 configure_logging=True, runtime_env={"env_vars": dict(WORKER_ENV)}, **kw)
        self.store = Store(self.store_url)
        self.task = ray.remote(_task)
        self.driver_node = ray.get_runtime_context().get_node_id()
        self.resources = ray.cluster_resources()
        where = address or "a Ray started on this machine"
        self.say(f"ray: {where}, {int(self.resources.get('CPU', 0))} CPU(s) on "
                 f"{len([n for n in ray.nodes() if n['Alive']])} node(s); store "
                 f"{self.store_url}")
        return self

    def __exit__(self, *exc):
        for ref in list(self.refs):  # Ctrl-C: nothing more runs for this sweep
            self.ray.cancel(ref, force=True)
        self.ray.shutdown()
        return False

    def pick(self, ready: list, running: list):
        return ready[0] if ready else None  # Ray queues; resources and actors decide

    def submit(self, job: Job) -> None:
        seeds = {r: self.store.put(self.root, [r]) for r in job.seeds}
        args = (self.shipped_cfg, to_dict(job), self.store_url, seeds,
                str(self.root.resolve()))
        if job.device is None:
            opts = {**DEFAULT_RESOURCES.get(job.kind, {}), **self.cfg.ray_resources.get(
                job.kind, {})}
            ref = self.task.options(max_retries=RETRIES, **opts).remote(*args)
        else:
            ref = self._actor(job).run.remote(*args, job.exclusive)
        self.refs[ref] = job.unit

    def _actor(self, job: Job):
        from devices import get_device_config

        name = job.device
        if name in self.actors:
            return self.actors[name]
        ray = self.ray
        config = get_device_config(name, self.cfg.inventory)
        opts: dict = {}
        own = f"device:{name}"
        if own in self.resources:
            opts["resources"] = {own: 0.001}
            where = own
        elif job.exclusive:  # this machine's CPU: the driver's node
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            opts["scheduling_strategy"] = NodeAffinitySchedulingStrategy(self.driver_node,
                                                                         soft=False)
            where = self.driver_node
        else:
            where = "any"
        host = getattr(config, "host", None) or getattr(config, "ssh_alias", None) or where
        actor = ray.remote(DeviceActor).options(
            name=f"edge-vit-{__version__}-device:{name}@{host}", get_if_exists=True,
            lifetime="detached", num_cpus=0, max_restarts=-1, max_task_retries=RETRIES,
            **opts).remote()
        self.actors[name] = actor
        return actor

    def wait(self, timeout: float) -> list[tuple[str, Outcome]]:
        ray = self.ray
        if not self.refs:
            return []
        done, _ = ray.wait(list(self.refs), num_returns=1, timeout=timeout)
        out = []
        for ref in done:
            unit = self.refs.pop(ref)
            try:
                got = ray.get(ref)
                tree = got.pop("tree")
                if tree:
                    self.store.extract(tree, self.root)
                outcome = from_dict(Outcome, got)
            except ray.exceptions.RayTaskError as exc:
                cause = exc.cause if getattr(exc, "cause", None) is not None else exc
                outcome = Outcome(error=f"{type(cause).__name__}: {cause}")
            except ray.exceptions.RayError as exc:  # its workers died, RETRIES times over
                outcome = Outcome(error=f"lost on the cluster after {RETRIES + 1} attempts "
                                        f"({type(exc).__name__}: {str(exc)[:300]}); it "
                                        "runs again on the next run")
            outcome.attempts = max(1, len(self.store.attempts(unit)))
            out.append((unit, outcome))
        return out


class DeviceActor:
    """One per device on the cluster; Ray runs its calls one at a time, so it is the lock."""

    def run(self, cfg: dict, job: dict, store_url: str, seeds: dict, root: str,
            exclusive: bool) -> dict:
        if not exclusive:
            return _task(cfg, job, store_url, seeds, root)
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        node = ray.get_runtime_context().get_node_id()
        cpus = next(n["Resources"].get("CPU", 1) for n in ray.nodes() if n["NodeID"] == node)
        # every CPU of this node for the profile: Ray starts nothing else here meanwhile
        reserved = ray.remote(_task).options(
            num_cpus=cpus, max_retries=RETRIES,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False))
        return ray.get(reserved.remote(cfg, job, store_url, seeds, root))


def _task(cfg: dict, job: dict, store_url: str, seeds: dict, root: str) -> dict:
    """On a worker: fetch the inputs, run the unit in a scratch folder, send back what it
    wrote (files that are new or changed) as one tree. Paths the unit wrote into its JSON
    files name the sweep folder (``root``, on the driver), not the scratch folder."""
    from ..config import SweepConfig

    j = from_dict(Job, job)
    store = Store(store_url)
    store.mark_started(j.unit, {"host": socket.gethostname(), "pid": os.getpid(),
                                "time": f"{time.time():.3f}", "unit": j.unit})
    scratch = Path(tempfile.mkdtemp(prefix="edge-vit-unit-"))
    try:
        for digest in seeds.values():
            copy_tree(store.fetch(digest), scratch)
        before = _hashes(scratch)
        outcome = run_job(from_dict(SweepConfig, cfg), scratch, j,
                          lambda m: print(f"[{j.unit}] {m.strip()}", flush=True))
        import ray

        outcome.node = ray.get_runtime_context().get_node_id()
        after = _hashes(scratch)
        wrote = [r for r, h in after.items() if before.get(r) != h]
        for r in wrote:
            if r.endswith(".json"):
                f = scratch / r
                f.write_text(f.read_text().replace(str(scratch), root))
        return {**to_dict(outcome), "tree": store.put(scratch, wrote) if wrote else None}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _hashes(root: Path) -> dict[str, str]:
    out = {}
    for f in root.rglob("*"):
        if f.is_file():
            out[str(f.relative_to(root))] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def _absolute(cfg):
    """The config as workers get it: the user's paths made absolute (they are read at the
    same path on every node: a shared file system, or a copy at the same place)."""
    cfg = dataclasses.replace(cfg)

    def absolute(p):
        return str(Path(p).resolve()) if p and Path(p).exists() else p

    for key in ("data", "calib", "finetune_data", "inventory"):
        setattr(cfg, key, absolute(getattr(cfg, key)))
    cfg.models = [dataclasses.replace(m, checkpoint=absolute(m.checkpoint),
                                      name=absolute(m.name)
                                      if (Path(m.name) / "prune_spec.json").is_file()
                                      else m.name) for m in cfg.models]
    cfg.prune = [absolute(p) if Path(p).is_file() else p for p in cfg.prune]
    return cfg
