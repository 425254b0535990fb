"""Reading what one runner process (a segment of a round) printed: its JSON, why it ended
early, and which unit it was measuring when it died."""

from __future__ import annotations

from typing import TYPE_CHECKING

from devices.runner.measure import UNIT_MARK

from .. import results as rs
from ..errors import DeviceError

if TYPE_CHECKING:
    from .unit import Unit


def parse_segment(stdout: str) -> dict | None:
    from ..profiling import parse_runner_output

    try:
        data = parse_runner_output(stdout)
    except DeviceError:
        return None
    return data if isinstance(data, dict) else None


def segment_failure(cmd, data: dict | None) -> tuple[str, str]:
    """(why a segment ended early, the status its unmeasured units get)."""
    from ..profiling import no_json_error, runner_error

    if cmd.timed_out:
        return f"timed out after {cmd.seconds:.0f} s", rs.FAILED
    if data is None:
        return no_json_error(DeviceError("the runner printed no JSON result"), cmd), rs.FAILED
    if data.get("error") or cmd.returncode != 0:
        return runner_error(data, cmd)
    return f"the runner skipped it (exit {cmd.returncode})", rs.FAILED


def culprit(stderr: str, rest: list[Unit]):
    """The unit whose ``unit-start`` mark has no ``unit-end``: it was running when the
    process died. None when the process measured nothing."""
    started, ended = [], set()
    for line in (stderr or "").splitlines():
        if line.startswith(UNIT_MARK + "start "):
            started.append(_int(line.rsplit(" ", 1)[-1]))
        elif line.startswith(UNIT_MARK + "end "):
            ended.add(_int(line.rsplit(" ", 1)[-1]))
    open_ = [i for i in started if i not in ended]
    by_index = {u.index: u for u in rest}
    for i in reversed(open_):
        if i in by_index:
            return by_index[i]
    return None


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None
