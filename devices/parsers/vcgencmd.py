"""Parse Raspberry Pi ``vcgencmd`` output: ``get_throttled``, ``measure_temp``,
``measure_clock``.

Recordings: ``shared/data/device-tools/vcgencmd/`` (origins in
``shared/data/device-tools/SOURCES.md``). The commands print ``throttled=0x50005``,
``temp=38.6'C`` and ``frequency(45)=1400000000`` (Hz; the number in parentheses is the clock's
id: 45 for ``arm`` on the Pi 3 firmware recorded, 48 on a Pi 4/5 - no Pi 4/5 recording). Several
commands chained with ``&&``/``;`` give one value per line, possibly with trailing spaces
(duckietown #358) and repeated readings (two temperatures in firmware #615).

``get_throttled`` bits (Raspberry Pi documentation): 0 under-voltage now, 1 ARM frequency capped
now, 2 throttled now, 3 soft temperature limit now; 16-19 the same "has occurred since boot".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from devices.parsers import ParseError, require_text

TOOL = "vcgencmd"

THROTTLE_BITS = {
    0: "under-voltage",
    1: "arm-frequency-capped",
    2: "throttled",
    3: "soft-temperature-limit",
}
OCCURRED_SHIFT = 16

_THROTTLED = re.compile(r"^throttled=(0x[0-9a-fA-F]+|\d+)\s*$", re.M)
_TEMP = re.compile(r"^temp=(-?[\d.]+)'C\s*$", re.M)
_CLOCK = re.compile(r"^frequency\((\d+)\)=(\d+)\s*$", re.M)


@dataclass
class ThrottleState:
    value: int
    hex: str  # as printed, "0x50005"
    now: list[str] = field(default_factory=list)  # flag names active now (bits 0-3)
    since_boot: list[str] = field(default_factory=list)  # occurred since boot (bits 16-19)
    unknown_bits: list[int] = field(default_factory=list)

    @property
    def throttled_now(self) -> bool:
        """Any of bits 0-3: the measurement happening now is affected."""
        return bool(self.now)

    @property
    def ever(self) -> bool:
        return bool(self.now or self.since_boot)

    def describe(self) -> str:
        """One line for ``ProfileResult.throttle_detail``."""
        if not self.ever and not self.unknown_bits:
            return f"{self.hex}: never throttled since boot"
        parts = [f"now: {', '.join(self.now) or 'none'}"]
        parts.append(f"since boot: {', '.join(self.since_boot) or 'none'}")
        if self.unknown_bits:
            parts.append(f"unknown bits {self.unknown_bits}")
        return f"{self.hex}: " + "; ".join(parts)


def decode_throttled(value: int | str) -> ThrottleState:
    """Decode a ``get_throttled`` value (int, ``"0x50005"`` or ``"throttled=0x50005"``)."""
    if isinstance(value, str):
        raw = value.strip().removeprefix("throttled=")
        number = int(raw, 16) if raw.lower().startswith("0x") else int(raw)
        printed = raw
    else:
        number, printed = value, hex(value)
    state = ThrottleState(value=number, hex=printed)
    for bit in range(number.bit_length()):
        if not number >> bit & 1:
            continue
        if bit in THROTTLE_BITS:
            state.now.append(THROTTLE_BITS[bit])
        elif bit - OCCURRED_SHIFT in THROTTLE_BITS:
            state.since_boot.append(THROTTLE_BITS[bit - OCCURRED_SHIFT])
        else:
            state.unknown_bits.append(bit)
    return state


@dataclass
class VcgencmdReadings:
    throttled: ThrottleState | None = None  # the last get_throttled in the text
    temperatures_c: list[float] = field(default_factory=list)  # every measure_temp, in order
    clocks_hz: dict[str, int] = field(default_factory=dict)  # clock id ("45") -> Hz

    @property
    def temperature_c(self) -> float | None:
        """The most recent ``measure_temp`` reading."""
        return self.temperatures_c[-1] if self.temperatures_c else None

    @property
    def arm_clock_hz(self) -> int | None:
        """The clock measured when the text holds one ``measure_clock`` (``arm`` is asked)."""
        return next(iter(self.clocks_hz.values())) if len(self.clocks_hz) == 1 else None


def parse_vcgencmd(text: str | bytes) -> VcgencmdReadings:
    text = require_text(TOOL, text)
    readings = VcgencmdReadings(
        temperatures_c=[float(t) for t in _TEMP.findall(text)],
        clocks_hz={cid: int(hz) for cid, hz in _CLOCK.findall(text)},
    )
    throttled = _THROTTLED.findall(text)
    if throttled:
        readings.throttled = decode_throttled(throttled[-1])
    if not (throttled or readings.temperatures_c or readings.clocks_hz):
        raise ParseError(TOOL, "no 'throttled=', 'temp=' or 'frequency(N)=' line")
    return readings
