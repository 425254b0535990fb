"""Parse ``jetson_clocks --show`` (``jetson_clocks.sh --show`` on L4T 28) into
:class:`JetsonClocks`.

Recordings: ``shared/data/jetson/jetson_clocks/`` (origins in ``shared/data/jetson/SOURCES.md``).

* Header ``SOC family:tegra234  Machine:Jetson AGX Orin`` and ``Online CPUs: 0-11``.
* One line per CPU: ``cpu0: Online=1 Governor=schedutil MinFreq=729600 MaxFreq=2201600
  CurrentFreq=2201600 IdleStates: WFI=1 c7=1`` (kHz). Orin JetPack 5.1 lists them in string order
  (cpu0, cpu1, cpu10, ...) and ends lines with a space; JetPack 6 pads ``cpu0:  Online``. The
  TX1 (L4T 28.1) has no ``Online=`` and spells ``Gonvernor=``.
* ``GPU MinFreq=... MaxFreq=... CurrentFreq=...`` and ``EMC ... FreqOverride=0|1`` in Hz;
  ``DLA0_CORE:``/``PVA0_AXI:`` engines; ``Active GPU TPCs: 8`` only on JetPack 6; the fan line
  changes from ``Fan: speed=255`` (TX1) to ``FAN Dynamic Speed control=active hwmon2_pwm1=55``;
  ``NV Power Mode: MAXN`` ends the Orin AGX output but is missing on the Orin Nano snap.

``jetson_clocks`` pins clocks by raising every minimum to the maximum (EMC through
``FreqOverride=1``). ``pinned`` is True when every online CPU, the GPU and the EMC run at
their maximum with the minimum raised to it (``FreqOverride=1`` counts for the EMC);
``not_pinned`` names the ones that do not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from devices.parsers import ParseError, require_text

TOOL = "jetson_clocks"

_KV = re.compile(r"(\w+)=(\S+)")
_CPU = re.compile(r"^cpu(\d+):\s*(.*)$")
_DOMAIN = re.compile(r"^([A-Z][A-Z0-9_]*):?\s+((?:\w+=\S+\s*)+)$")


@dataclass
class CpuClock:
    index: int
    online: bool | None = None  # None: not printed and not in "Online CPUs"
    governor: str | None = None
    min_mhz: float | None = None
    max_mhz: float | None = None
    current_mhz: float | None = None


@dataclass
class ClockDomain:
    """GPU, EMC, DLA/PVA engines (reported in Hz, stored in MHz)."""

    min_mhz: float | None = None
    max_mhz: float | None = None
    current_mhz: float | None = None
    online: bool | None = None
    freq_override: bool | None = None  # EMC only


@dataclass
class JetsonClocks:
    soc_family: str | None = None
    machine: str | None = None
    online_cpus: list[int] = field(default_factory=list)
    cpus: list[CpuClock] = field(default_factory=list)  # sorted by index
    gpu: ClockDomain | None = None
    emc: ClockDomain | None = None
    engines: dict[str, ClockDomain] = field(default_factory=dict)  # DLA0_CORE, PVA0_AXI, ...
    active_gpu_tpcs: int | None = None
    fan: str | None = None
    power_mode: str | None = None  # "NV Power Mode:" when printed
    pinned: bool = False
    not_pinned: list[str] = field(default_factory=list)  # "cpu3", "GPU", "EMC"


def _cpu_list(spec: str) -> list[int]:
    cpus: list[int] = []
    for part in spec.replace(" ", "").split(","):
        if "-" in part:
            lo, hi = part.split("-")
            cpus.extend(range(int(lo), int(hi) + 1))
        elif part.isdigit():
            cpus.append(int(part))
    return cpus


def _mhz(value: str | None, scale: float) -> float | None:
    return None if value is None or not value.isdigit() else int(value) / scale


def _domain(kv: dict[str, str]) -> ClockDomain:
    return ClockDomain(
        min_mhz=_mhz(kv.get("MinFreq"), 1e6),
        max_mhz=_mhz(kv.get("MaxFreq"), 1e6),
        current_mhz=_mhz(kv.get("CurrentFreq"), 1e6),
        online=None if "Online" not in kv else kv["Online"] == "1",
        freq_override=None if "FreqOverride" not in kv else kv["FreqOverride"] == "1",
    )


def _at_max(min_: float | None, cur: float | None, max_: float | None, override=None) -> bool:
    if max_ is None or cur is None or cur < max_:
        return False
    return bool(override) or min_ == max_


def _check_pinned(clocks: JetsonClocks) -> None:
    for cpu in clocks.cpus:
        if cpu.online is not False and not _at_max(cpu.min_mhz, cpu.current_mhz, cpu.max_mhz):
            clocks.not_pinned.append(f"cpu{cpu.index}")
    for name, dom in (("GPU", clocks.gpu), ("EMC", clocks.emc)):
        if dom is None or not _at_max(dom.min_mhz, dom.current_mhz, dom.max_mhz, dom.freq_override):
            clocks.not_pinned.append(name)
    clocks.pinned = bool(clocks.cpus) and not clocks.not_pinned


def parse_jetson_clocks(text: str | bytes) -> JetsonClocks:
    text = require_text(TOOL, text)
    clocks = JetsonClocks()
    for raw in text.split("\n"):
        line = raw.strip()
        if m := re.match(r"SOC family:\s*(\S+)\s+Machine:\s*(.+)$", line):
            clocks.soc_family, clocks.machine = m.group(1), m.group(2).strip()
        elif line.startswith("Online CPUs:"):
            clocks.online_cpus = _cpu_list(line.partition(":")[2])
        elif m := _CPU.match(line):
            kv = dict(_KV.findall(m.group(2)))
            governor = next((v for k, v in kv.items() if re.fullmatch(r"Go\w*ernor", k)), None)
            clocks.cpus.append(
                CpuClock(
                    index=int(m.group(1)),
                    online=None if "Online" not in kv else kv["Online"] == "1",
                    governor=governor,
                    min_mhz=_mhz(kv.get("MinFreq"), 1e3),
                    max_mhz=_mhz(kv.get("MaxFreq"), 1e3),
                    current_mhz=_mhz(kv.get("CurrentFreq"), 1e3),
                )
            )
        elif m := re.match(r"Active GPU TPCs:\s*(\d+)", line):
            clocks.active_gpu_tpcs = int(m.group(1))
        elif line.startswith("NV Power Mode:"):
            clocks.power_mode = line.partition(":")[2].strip()
        elif line.upper().startswith("FAN"):
            clocks.fan = line
        elif (m := _DOMAIN.match(line)) and "Freq=" in line:
            domain = _domain(dict(_KV.findall(m.group(2))))
            if m.group(1) == "GPU":
                clocks.gpu = domain
            elif m.group(1) == "EMC":
                clocks.emc = domain
            else:
                clocks.engines[m.group(1)] = domain
    if not (clocks.cpus or clocks.gpu or clocks.emc):
        raise ParseError(TOOL, "no 'cpuN:', 'GPU MinFreq=' or 'EMC MinFreq=' line")
    for cpu in clocks.cpus:
        if cpu.online is None and clocks.online_cpus:
            cpu.online = cpu.index in clocks.online_cpus
    clocks.cpus.sort(key=lambda c: c.index)
    _check_pinned(clocks)
    return clocks
