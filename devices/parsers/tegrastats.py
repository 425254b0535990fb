"""Parse ``tegrastats`` lines into samples and summarise board power as ``PowerStats``.

Recordings: ``shared/data/jetson/tegrastats/`` (origins in ``shared/data/jetson/SOURCES.md``).
One line is one sample; the fields differ by board and L4T release:

* An optional ``MM-DD-YYYY HH:MM:SS`` prefix (AGX Orin, Xavier NX logs), absent on older ones.
* ``RAM used/totalMB (lfb NxSIZE)``; ``SWAP``, ``IRAM`` (Nano) and ``EMC_FREQ`` may be missing
  (the TX2 log has no SWAP/EMC/GR3D at all).
* ``CPU [load%@MHz,...]`` with ``off`` for offline cores (Nano 5 W, Xavier NX, Orin).
* Engines: ``GR3D_FREQ 0%`` (no clock), ``GR3D_FREQ 42%@76`` (one clock),
  ``GR3D_FREQ 39%@[305,0]`` (one clock per GPC, Orin JetPack 6), an extra ``GR3D2_FREQ 0%@0``
  (AGX Orin JetPack 5.1), clock-only ``VIC_FREQ 729`` / ``APE 174`` and ``NVENC off``.
* Temperatures ``name@43.9C``; sensor names change case (``CPU@`` vs ``cpu@``) and ``-256C``
  means the sensor is not available (CV0/CV1/GPU on idle AGX Orin): those go to
  ``offline_sensors``, not to ``temperatures_c``. ``PMIC`` reads a constant 50C (Nano, Xavier NX)
  or 100C (TX2, AGX Xavier) in every recording: a placeholder, not a measurement.
* Power rails ``NAME current/average`` in four schemes: ``VDD_IN 5542mW/5542mW`` (Xavier NX,
  Orin), ``POM_5V_IN 920/920`` (Nano), ``VDD_SYS_GPU 153/158`` / ``VDD_IN 3624/3624`` (TX2),
  bare ``GPU 463/463 ... SYS5V 3306/3306`` (AGX Xavier, JetPack 4.2). Values without a unit are
  taken as mW (what tegrastats meant before it printed the unit); ``units_assumed`` says so.
  ``NC`` (not connected, printed twice on AGX Orin) is dropped.

Power uses each line's instantaneous value, not tegrastats' running average, which starts when
tegrastats started rather than when the timed loop did.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from devices.parsers import ParseError, require_text
from edge_vit.results import PowerStats

TOOL = "tegrastats"

# Board input rails, most direct first. POM_5V_IN is the Nano's whole 5 V input (NVIDIA forum,
# cited in rbonghi/jetson_stats#51); VDD_IN is the module input on TX2, Xavier NX and Orin
# NX/Nano. AGX Xavier and AGX Orin print no input rail: there the module power is the sum of
# the rails (jetson_stats#51 for Xavier; #344: AGX Orin's VIN_SYS_5V0 is one rail, not the total).
INPUT_RAILS = ("VDD_IN", "POM_5V_IN")
NOT_CONNECTED = "NC"
SENSOR_OFF_C = -256.0

_TIMESTAMP = re.compile(r"^(\d\d)-(\d\d)-(\d{4}) (\d\d:\d\d:\d\d)\s+")
_RAM = re.compile(r"\bRAM (\d+)/(\d+)MB")
_SWAP = re.compile(r"\bSWAP (\d+)/(\d+)MB")
_CPU = re.compile(r"\bCPU \[([^\]]*)\]")
_ENGINE = re.compile(r"(?<![\w@])([A-Z][A-Z0-9_]*) (off|\d+%(?:@(?:\[[\d,]*\]|\d+))?|\d+)(?=\s|$)")
_TEMP = re.compile(r"(?<![\w@])([A-Za-z][\w]*)@(-?[\d.]+)C\b")
_RAIL = re.compile(r"(?<![\w@])([A-Za-z][\w]*) (\d+)(mW)?/(\d+)(mW)?((?:/\d+(?:mW)?)*)(?=\s|$)")


@dataclass
class CpuCore:
    online: bool
    load_percent: float | None = None
    freq_mhz: float | None = None


@dataclass
class EngineLoad:
    """``GR3D_FREQ 39%@[305,0]`` -> load 39, clocks [305, 0]; ``VIC_FREQ 729`` -> clock only."""

    online: bool
    load_percent: float | None = None
    freq_mhz: list[float] = field(default_factory=list)


@dataclass
class TegrastatsSample:
    timestamp: str | None = None  # ISO 8601 "2025-07-21T16:33:42" (local time of the board)
    ram_used_mb: float | None = None
    ram_total_mb: float | None = None
    swap_used_mb: float | None = None
    swap_total_mb: float | None = None
    cpus: list[CpuCore] = field(default_factory=list)
    gpu: EngineLoad | None = None  # GR3D_FREQ
    emc: EngineLoad | None = None  # EMC_FREQ (memory controller)
    engines: dict[str, EngineLoad] = field(default_factory=dict)  # every other engine/clock
    temperatures_c: dict[str, float] = field(default_factory=dict)
    offline_sensors: list[str] = field(default_factory=list)  # printed as -256C
    power_mw: dict[str, float] = field(default_factory=dict)  # rail -> instantaneous mW
    power_avg_mw: dict[str, float] = field(default_factory=dict)  # tegrastats' running mean
    units_assumed: bool = False  # rails printed without "mW"; mW assumed


def _engine(value: str) -> EngineLoad:
    if value == "off":
        return EngineLoad(online=False)
    if "%" not in value:
        return EngineLoad(online=True, freq_mhz=[float(value)])
    load, _, freq = value.partition("%")
    freqs = [float(f) for f in freq.lstrip("@[").rstrip("]").split(",") if f]
    return EngineLoad(online=True, load_percent=float(load), freq_mhz=freqs)


def _cpu(entry: str) -> CpuCore:
    entry = entry.strip()
    if entry == "off":
        return CpuCore(online=False)
    load, _, freq = entry.partition("@")
    return CpuCore(True, float(load.rstrip("%")), float(freq) if freq else None)


def parse_tegrastats_line(line: str) -> TegrastatsSample:
    """Parse one tegrastats line; :class:`ParseError` if it has no ``RAM x/yMB`` field."""
    line = line.strip()
    sample = TegrastatsSample()
    if m := _TIMESTAMP.match(line):
        month, day, year, clock = m.groups()
        sample.timestamp = f"{year}-{month}-{day}T{clock}"
        line = line[m.end() :]
    ram = _RAM.search(line)
    if ram is None:
        raise ParseError(TOOL, f"not a tegrastats line: {line[:80]!r}")
    sample.ram_used_mb, sample.ram_total_mb = float(ram.group(1)), float(ram.group(2))
    if m := _SWAP.search(line):
        sample.swap_used_mb, sample.swap_total_mb = float(m.group(1)), float(m.group(2))
    if m := _CPU.search(line):
        sample.cpus = [_cpu(e) for e in m.group(1).split(",") if e.strip()]
    for name, value in _ENGINE.findall(line):
        if name in ("RAM", "SWAP", "IRAM", "CPU"):
            continue
        engine = _engine(value)
        if name == "GR3D_FREQ":
            sample.gpu = engine
        elif name == "EMC_FREQ":
            sample.emc = engine
        else:
            sample.engines[name] = engine
    for name, value in _TEMP.findall(line):
        if float(value) <= SENSOR_OFF_C:
            sample.offline_sensors.append(name)
        else:
            sample.temperatures_c[name] = float(value)
    for name, now, unit1, avg, unit2, _extra in _RAIL.findall(line):
        if name == NOT_CONNECTED:
            continue
        sample.power_mw[name] = float(now)
        sample.power_avg_mw[name] = float(avg)
        if not (unit1 and unit2):
            sample.units_assumed = True
    return sample


def parse_tegrastats(text: str | bytes) -> list[TegrastatsSample]:
    """Parse a tegrastats log. Blank lines and lines without a ``RAM`` field (a truncated
    first/last line, a warning) are skipped; :class:`ParseError` if no line is a sample."""
    text = require_text(TOOL, text)
    samples = []
    for line in text.split("\n"):
        if _RAM.search(line):
            samples.append(parse_tegrastats_line(line))
    if not samples:
        raise ParseError(TOOL, "no line has tegrastats' 'RAM used/totalMB' field")
    return samples


def input_rail(samples: Iterable[TegrastatsSample]) -> str | None:
    """The rail :func:`summarize_power` reports as board power: ``VDD_IN`` or ``POM_5V_IN``
    when printed, ``"sum"`` when only component rails exist, ``None`` when there are none."""
    names = {name for s in samples for name in s.power_mw}
    for rail in INPUT_RAILS:
        if rail in names:
            return rail
    return "sum" if names else None


def summarize_power(
    samples: Iterable[TegrastatsSample],
    inferences: int | None = None,
    seconds: float | None = None,
) -> PowerStats:
    """Mean and peak board power over ``samples`` (taken during the timed loop).

    Board power is ``VDD_IN`` or ``POM_5V_IN`` when printed, else the sum of all rails
    (AGX Xavier, AGX Orin). ``rails`` holds every rail's mean in W (the input rail included).
    ``energy_per_inference_mj`` = mean W x ``seconds`` / ``inferences`` x 1000, only when both
    are given and positive. ``samples`` counts the lines that had the chosen rail; with no rails
    at all (tegrastats without power monitors) it is 0 and the power fields are None.
    """
    samples = list(samples)
    rail = input_rail(samples)
    label = "sum of rails" if rail == "sum" else rail
    source = "tegrastats" if rail is None else f"tegrastats ({label})"
    if rail is None:
        return PowerStats(source=source, samples=0)
    totals = []
    for s in samples:
        if rail == "sum":
            if s.power_mw:
                totals.append(sum(s.power_mw.values()))
        elif rail in s.power_mw:
            totals.append(s.power_mw[rail])
    per_rail: dict[str, list[float]] = {}
    for s in samples:
        for name, mw in s.power_mw.items():
            per_rail.setdefault(name, []).append(mw)
    mean_w = sum(totals) / len(totals) / 1000.0
    energy = None
    if inferences and seconds and inferences > 0 and seconds > 0:
        energy = mean_w * seconds / inferences * 1000.0
    return PowerStats(
        source=source,
        samples=len(totals),
        mean_w=mean_w,
        peak_w=max(totals) / 1000.0,
        rails={name: sum(v) / len(v) / 1000.0 for name, v in per_rail.items()},
        energy_per_inference_mj=energy,
    )
