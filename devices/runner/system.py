"""What the device is and how busy it is: CPU, memory, clocks, temperature, board facts, the
Raspberry Pi's throttling bits, other processes' CPU use over a timed block, CPU affinity."""

import glob
import os
import platform
import re
import shutil
import socket
import sys
import time

from . import backends
from .core import UsageError, _read, _read_number, _run_tool

HOT_C = 80.0  # Raspberry Pi firmware starts soft throttling around here
CPU_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "avx512_fp16",
             "avx_vnni", "amx_tile", "amx_bf16", "amx_int8", "neon", "asimd", "asimdhp",
             "asimddp", "fphp", "i8mm", "bf16", "sve")
# vcgencmd get_throttled bits; the same bit << 16 means "has occurred since boot".
THROTTLE_BITS = ((0x1, "under-voltage"), (0x2, "arm frequency capped"),
                 (0x4, "currently throttled"), (0x8, "soft temperature limit"))


def _proc_status_kb(key):
    text = _read("/proc/self/status") or ""
    found = re.search(r"^%s:\s*(\d+)\s*kB" % key, text, re.M)
    return int(found.group(1)) if found else None


def rss_mb():
    kb = _proc_status_kb("VmRSS")
    return round(kb / 1024.0, 2) if kb is not None else None


def peak_rss_mb():
    """High-water RSS of this process: VmHWM where /proc has it, else ru_maxrss (kB on Linux,
    bytes on macOS). Not the larger of the two: Linux carries ru_maxrss across fork and exec,
    so a runner started by a parent holding 1.5 GB (the sweep, with torch loaded) reported
    1.5 GB for a 5 MB model; VmHWM belongs to the process's own memory."""
    kb = _proc_status_kb("VmHWM")
    if kb is not None:
        return round(kb / 1024.0, 2)
    try:
        import resource

        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    except (ImportError, OSError):
        return None
    return round(maxrss / (1024.0 * 1024.0) if sys.platform == "darwin" else maxrss / 1024.0, 2)


def _cpuinfo():
    fields = {}
    for line in (_read("/proc/cpuinfo") or "").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    return fields


def cpu_model(info=None):
    info = _cpuinfo() if info is None else info
    if info.get("model name"):
        return info["model name"]
    lscpu = _run_tool(["lscpu"]) or ""  # ARM cpuinfo has no model name; lscpu decodes the part
    found = re.search(r"^Model name:\s*(.+)$", lscpu, re.M)
    if found and found.group(1).strip() != "-":
        return found.group(1).strip()
    return info.get("Model") or info.get("Hardware") or platform.processor() or None


def cpu_freq_mhz():
    base = "/sys/devices/system/cpu/cpu0/cpufreq/"
    freq = {}
    for key, name in (("cur", "scaling_cur_freq"), ("min", "scaling_min_freq"),
                      ("max", "scaling_max_freq")):
        value = _read_number(base + name, 1e-3)  # kHz -> MHz
        if value is None and key == "max":
            value = _read_number(base + "cpuinfo_max_freq", 1e-3)
        if value is not None:
            freq[key] = round(value, 1)
    if "cur" not in freq:  # VMs have no cpufreq; x86 cpuinfo still says something
        mhz = _cpuinfo().get("cpu MHz")
        if mhz:
            freq["cur"] = round(float(mhz), 1)
    return freq


def temperature_c():
    """Hottest thermal zone (the SoC on boards; VMs usually have none)."""
    temps = [_read_number(p, 1e-3) for p in glob.glob("/sys/class/thermal/thermal_zone*/temp")]
    temps = [t for t in temps if t is not None and -40.0 < t < 150.0]
    return round(max(temps), 1) if temps else None


def _meminfo_mb(key):
    found = re.search(r"^%s:\s*(\d+)\s*kB" % key, _read("/proc/meminfo") or "", re.M)
    return round(int(found.group(1)) / 1024.0, 1) if found else None


def os_name():
    text = _read("/etc/os-release") or ""
    found = re.search(r'^PRETTY_NAME="?([^"\n]*)"?', text, re.M)
    return found.group(1) if found else platform.platform()


def board_model():
    return _read("/proc/device-tree/model")


def is_raspberry_pi():
    return "Raspberry Pi" in (board_model() or "") or shutil.which("vcgencmd") is not None


def is_jetson():
    model = board_model() or ""
    return os.path.exists("/etc/nv_tegra_release") or "Jetson" in model or "NVIDIA" in model


def board_facts():
    """Raspberry Pi / Jetson facts; empty on other machines."""
    facts = {}
    model = board_model()
    if is_raspberry_pi():
        facts.update(kind="raspberry-pi", model=model)
        for key, argv in (("firmware", ["vcgencmd", "version"]),
                          ("arm_clock", ["vcgencmd", "measure_clock", "arm"])):
            facts[key] = _run_tool(argv)
    elif is_jetson():
        facts.update(kind="jetson", model=model)
        release = (_read("/etc/nv_tegra_release") or "").splitlines()
        facts["l4t"] = release[0] if release else None
        facts["nvpmodel"] = _run_tool(["nvpmodel", "-q"])
        facts["jetson_clocks"] = _run_tool(["jetson_clocks", "--show"])  # needs root: may be None
    elif model:
        facts["model"] = model
    return facts


EMULATION_MARKER = "/etc/edge-vit/emulated"  # written by edge-vit's emulated board


def emulation(info=None):
    """``"qemu-user"`` when this userland runs under an emulator (the emulated board's marker,
    or an ARM Python whose /proc/cpuinfo describes an x86 CPU: qemu-user shows the host's),
    else None."""
    marker = (_read(EMULATION_MARKER) or "").strip()
    if marker:
        return marker
    info = _cpuinfo() if info is None else info
    if platform.machine().lower().startswith(("aarch64", "arm")) and "vendor_id" in info:
        return "qemu-user"
    return None


def collect_environment():
    info = _cpuinfo()
    flags = set((info.get("flags") or info.get("Features") or "").split())
    emulated = emulation(info)
    model = cpu_model(info)
    if emulated:  # the host's CPU and flags, not the emulated one's
        flags = set()
        model = "emulated %s (%s) on %s" % (platform.machine(), emulated, model)
    try:
        load = [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        load = []
    return {
        "hostname": socket.gethostname(), "os": os_name(), "kernel": platform.release(),
        "machine": platform.machine(), "cpu_model": model,
        "cpu_flags": [f for f in CPU_FLAGS if f in flags], "cores_logical": os.cpu_count(),
        "cpu_freq_mhz": cpu_freq_mhz(),
        "governor": _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        "temperature_c": temperature_c(), "mem_total_mb": _meminfo_mb("MemTotal"),
        "mem_available_mb": _meminfo_mb("MemAvailable"), "python": platform.python_version(),
        "runtimes": backends.runtime_versions(only_present=True), "board": board_facts(),
        "load_avg": load, "emulation": emulated,
    }


def vcgencmd_throttled():
    out = _run_tool(["vcgencmd", "get_throttled"]) if is_raspberry_pi() else None
    found = re.search(r"throttled=(0x[0-9a-fA-F]+)", out or "")
    return int(found.group(1), 16) if found else None


def throttle_verdict(before, after):
    """(throttled, detail) from two get_throttled values; (None, None) when unreadable."""
    if before is None or after is None:
        return None, None
    now = [name for bit, name in THROTTLE_BITS if after & bit]
    new = [name for bit, name in THROTTLE_BITS if (after & ~before) & (bit << 16)]
    old = [name for bit, name in THROTTLE_BITS if before & (bit << 16)]
    parts = ["get_throttled 0x%x before, 0x%x after" % (before, after)]
    if now:
        parts.append("now: " + ", ".join(now))
    if new:
        parts.append("occurred during the run: " + ", ".join(new))
    if old:  # a sticky bit already set cannot show a repeat
        parts.append("already occurred since boot: " + ", ".join(old))
    return bool(now or new), "; ".join(parts)


class ClockSampler:
    """cpufreq and temperature read about once a second during the loop (cheap sysfs reads)."""

    def __init__(self):
        self.min_freq = None
        self.max_temp = None
        self.samples = 0

    def sample(self):
        self.samples += 1
        cur = _read_number("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq", 1e-3)
        if cur is not None:
            self.min_freq = cur if self.min_freq is None else min(self.min_freq, cur)
        temp = temperature_c()
        if temp is not None:
            self.max_temp = temp if self.max_temp is None else max(self.max_temp, temp)


# ---------------------------------------------------------------- CPU accounting (busy rounds)
#
# Whether a block ran on a quiet machine is decided from /proc/stat deltas (all CPUs) minus
# this process's own CPU time (getrusage: every thread of ours), not from the load average:
# a 1-minute average that also counts our own inference threads.

CLK_TCK = float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0


def proc_stat_cpu():
    """(busy, total, steal) CPU-seconds over all CPUs since boot, from /proc/stat; None where
    there is no /proc/stat (macOS)."""
    text = _read("/proc/stat")
    if not text or not text.startswith("cpu "):
        return None
    fields = [int(v) for v in text.splitlines()[0].split()[1:]]
    fields += [0] * (8 - len(fields))
    user, nice, system, idle, iowait, irq, softirq, steal = fields[:8]
    busy = user + nice + system + irq + softirq  # guest time is already inside user
    return busy / CLK_TCK, (busy + idle + iowait + steal) / CLK_TCK, steal / CLK_TCK


def own_cpu_seconds():
    try:
        import resource

        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    except (ImportError, OSError):
        times = os.times()
        return times[0] + times[1]


class CpuWindow:
    """Other processes' CPU use, steal and our own CPU use over one timed block."""

    def __init__(self):
        self.t0, self.stat0, self.own0 = time.perf_counter(), proc_stat_cpu(), own_cpu_seconds()

    def close(self):
        wall = time.perf_counter() - self.t0
        own = own_cpu_seconds() - self.own0
        out = {"wall_s": round(wall, 4), "own_cores": round(own / wall, 3) if wall > 0 else None,
               "other_cores": None, "steal_pct": None, "resolution_cores": None,
               "steal_resolution_pct": None}
        stat1 = proc_stat_cpu()
        if self.stat0 is not None and stat1 is not None and wall > 0:
            busy, total, steal = (b - a for a, b in zip(self.stat0, stat1))  # noqa: B905
            out["other_cores"] = round(max(0.0, busy - own) / wall, 3)
            out["steal_pct"] = round(100.0 * steal / total, 2) if total > 0 else 0.0
            # /proc/stat counts whole ticks per CPU: one tick each is the reading's resolution
            out["resolution_cores"] = round((os.cpu_count() or 1) / CLK_TCK / wall, 3)
            # ... and in steal's terms, one tick per CPU of all CPUs' time: 50 % of a 0.02 s
            # block, 10 % of a 0.1 s one
            out["steal_resolution_pct"] = round(100.0 / CLK_TCK / wall, 2)
        return out


def min_cpu_freq_mhz():
    """Lowest current clock over the CPUs that report one (cpufreq), None on VMs."""
    values = [_read_number(p, 1e-3) for p in
              glob.glob("/sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_cur_freq")]
    values = [v for v in values if v]
    return round(min(values), 1) if values else None


def reset_peak_rss():
    """Reset VmHWM to the current RSS (Linux >= 4.0), so that each unit's peak is its own."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def set_affinity(spec):
    """``--pin 0,2-3``: run on these CPUs only (before any runtime creates its threads)."""
    cpus = set()
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part:
                a, b = part.split("-", 1)
                cpus.update(range(int(a), int(b) + 1))
            else:
                cpus.add(int(part))
        except ValueError:
            raise UsageError("--pin takes CPU numbers like 0,1 or 0-3, got %r" % spec) from None
    if not hasattr(os, "sched_setaffinity"):
        raise UsageError("--pin needs os.sched_setaffinity (Linux)")
    try:
        os.sched_setaffinity(0, cpus)
    except (OSError, ValueError) as exc:
        raise UsageError("cannot pin to CPUs %s: %s (this device has %s)"
                         % (sorted(cpus), exc, os.cpu_count())) from None


def affinity():
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None

