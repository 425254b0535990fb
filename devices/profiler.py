"""A device kind's profiler strategy: how the device is probed and the plans of a profile are
measured on it.

The default is the Python runner (``devices/runner``; ``probe`` and ``runner_command`` run it
with the device's Python), which times every plan the host planned
(:func:`edge_vit.profiling.plan_runs`). A kind whose board has a native tool subclasses it:
``refine`` adds, drops or reorders plans before anything is copied (a plan with
``options["native"]`` is then measured by ``measure_native``, one round at a time, in its
place in the session's shuffled order), e.g. a Jetson's TensorRT through trtexec
(:mod:`devices.tensorrt`), or benchmark_model over adb on an Android board. ``options
["run_precision"]`` names what the runtime is asked to compute in; ``options["notes"]`` are
copied into that plan's result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edge_vit.errors import DeviceError

if TYPE_CHECKING:
    from edge_vit import results as rs
    from edge_vit.profiling import ProfileSettings, RunPlan


class Profiler:
    """The Python runner measures every plan; nothing is native."""

    name = "runner"

    def __init__(self, device):
        self.device = device

    def runner_command(self, *args: str) -> list[str]:
        """argv that runs the deployed runner on the device (its Python and work folder)."""
        from devices.shipping import REMOTE_RUNNER

        return [self.device.python, f"{self.device.workdir}/{REMOTE_RUNNER}", *args]

    def probe(self) -> dict:
        """What the device has: the runner's ``probe`` JSON (environment, runtimes and their
        versions, install hints, format -> runtimes). A board without Python overrides this
        with what its own tool says."""
        from devices.shipping import runner_files
        from edge_vit.profiling import parse_runner_output
        from exporters.base import shipped_backends

        d = self.device
        d.push(runner_files(shipped_backends()))
        cmd = d.run(self.runner_command("probe"), timeout=60)
        if cmd.returncode != 0:
            raise DeviceError(f"probe failed on {d.name} (exit {cmd.returncode}): "
                              f"{cmd.stderr.strip()[-300:]}")
        return parse_runner_output(cmd.stdout)

    def refine(self, plans: list[RunPlan], notes: list[str], settings: ProfileSettings,
               available: dict) -> tuple[list[RunPlan], list[str]]:
        return plans, notes

    def measure_native(self, plan: RunPlan, settings: ProfileSettings, round_index: int
                       ) -> rs.ProfileResult:
        raise DeviceError(f"{self.device.name}: {self.name} profiles have no native plans "
                          f"({plan.label})")

    def measure_layers(self, plan: RunPlan, settings: ProfileSettings, layers) -> list[dict]:
        """A native plan's per-op records, one per round, as the runner's ``layers`` gives
        them (the runner's plans are profiled by :mod:`edge_vit.layers.run` itself)."""
        raise DeviceError(f"{self.device.name}: {self.name} has no per-layer profile of "
                          f"native plans ({plan.label})")


class PreferredOrder(Profiler):
    """The runner, with the plans of the device's preferred runtimes first (stable: artifacts
    keep their order within a runtime)."""

    def __init__(self, device, preferred: tuple[str, ...]):
        super().__init__(device)
        self.preferred = preferred

    def refine(self, plans, notes, settings, available):
        rank = {r: i for i, r in enumerate(self.preferred)}
        return sorted(plans, key=lambda p: rank.get(p.runtime, len(rank))), notes
