"""nvpmodel -q and jetson_clocks --show parsers on shared/data/jetson (see its SOURCES.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.parsers import ParseError
from devices.parsers.jetson_clocks import parse_jetson_clocks
from devices.parsers.nvpmodel import parse_nvpmodel

DATA = Path(__file__).resolve().parents[4] / "shared" / "data" / "jetson"
NVP = DATA / "nvpmodel"
CLOCKS = DATA / "jetson_clocks"


def read(folder: Path, name: str) -> str:
    return (folder / name).read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "name,mode,mode_id,needs_sudo",
    [
        ("nano_2019_5W_sudo.txt", "5W", 1, False),
        ("nano_2019_5W_nosudo_error.txt", "5W", 1, True),
        ("orin-nano-8gb_15W_snap.txt", "15W", 0, False),
        ("thor-agx_jp7_MAXN.txt", "MAXN", 0, False),
    ],
)
def test_nvpmodel_mode(name, mode, mode_id, needs_sudo):
    status = parse_nvpmodel(read(NVP, name))
    assert (status.mode_name, status.mode_id, status.needs_sudo) == (mode, mode_id, needs_sudo)


def test_nvpmodel_lists_every_recording():
    assert len(list(NVP.glob("*.txt"))) == 4


def test_nvpmodel_without_sudo_keeps_the_errors():
    status = parse_nvpmodel(read(NVP, "nano_2019_5W_nosudo_error.txt"))
    assert status.errors == [
        "NVPM ERROR: Error opening /sys/kernel/nvpmodel_emc_cap/emc_iso_cap: 13",
        "NVPM ERROR: failed to read PARAM EMC: ARG MAX_FREQ: PATH "
        "/sys/kernel/nvpmodel_emc_cap/emc_iso_cap",
    ]


def test_nvpmodel_errors_only_means_needs_sudo_and_no_mode():
    # The error lines of the no-sudo recording alone, as when the mode line is missing.
    errors = read(NVP, "nano_2019_5W_nosudo_error.txt").split("\n", 2)[2]
    status = parse_nvpmodel(errors.replace("\n", "\r\n"))
    assert status.mode_name is None and status.mode_id is None and status.needs_sudo is True


@pytest.mark.parametrize("text", ["", "MAXN\n0\n", "permission denied\n"])
def test_nvpmodel_garbage_raises(text):
    with pytest.raises(ParseError):
        parse_nvpmodel(text)


def test_jetson_clocks_lists_every_recording():
    assert len(list(CLOCKS.glob("*.txt"))) == 4


def test_agx_orin_jp51_maxn_is_not_pinned():
    c = parse_jetson_clocks(read(CLOCKS, "agx-orin-64gb_jp5.1_MAXN_catid.txt"))
    assert (c.soc_family, c.machine, c.power_mode) == ("tegra234", "Jetson AGX Orin", "MAXN")
    assert c.online_cpus == list(range(12))
    assert [cpu.index for cpu in c.cpus] == list(range(12))  # printed cpu0, cpu1, cpu10, ...
    cpu10 = c.cpus[10]
    assert (cpu10.online, cpu10.governor) == (True, "schedutil")
    assert (cpu10.min_mhz, cpu10.max_mhz, cpu10.current_mhz) == (729.6, 2201.6, 1113.6)
    assert (c.gpu.min_mhz, c.gpu.max_mhz, c.gpu.current_mhz) == (306, 1300.5, 306)
    assert (c.emc.current_mhz, c.emc.max_mhz, c.emc.freq_override) == (2133, 3199, False)
    assert c.engines["DLA0_CORE"].max_mhz == 1600 and c.engines["PVA0_AXI"].online is True
    assert c.active_gpu_tpcs is None
    assert c.pinned is False and c.not_pinned[-2:] == ["GPU", "EMC"]


def test_agx_orin_jp62_50w_and_orin_nano_15w():
    c = parse_jetson_clocks(read(CLOCKS, "agx-orin-64gb_jp6.2_lanner_MODE_50W.txt"))
    assert (c.machine, c.power_mode, c.active_gpu_tpcs) == ("Lanner EAI-I233", "MODE_50W", 8)
    assert c.gpu.max_mhz == 816 and c.cpus[0].max_mhz == 1497.6
    assert c.fan == "FAN Dynamic Speed Control=nvfancontrol hwmon0_pwm1=102"
    assert c.pinned is False
    nano = parse_jetson_clocks(read(CLOCKS, "orin-nano-8gb_jp6_15W_snap.txt"))
    assert nano.machine == "NVIDIA Jetson Orin Nano Developer Kit" and nano.power_mode is None
    assert len(nano.cpus) == 6 and nano.cpus[0].governor == "ondemand"
    assert (nano.gpu.max_mhz, nano.emc.current_mhz, nano.active_gpu_tpcs) == (624.75, 665.6, 4)
    assert nano.engines == {} and nano.pinned is False


def test_tx1_after_jetson_clocks_is_pinned():
    c = parse_jetson_clocks(read(CLOCKS, "tx1_l4t28.1_jetson_clocks.sh.txt"))
    assert (c.soc_family, c.machine) == ("tegra210", "jetson_tx1")
    assert all(cpu.governor == "interactive" for cpu in c.cpus)  # spelled "Gonvernor="
    assert all(cpu.online for cpu in c.cpus)  # no Online=, taken from "Online CPUs: 0-3"
    assert {cpu.current_mhz for cpu in c.cpus} == {1734.0}
    assert c.gpu.min_mhz == c.gpu.max_mhz == c.gpu.current_mhz == 998.4
    assert c.emc.freq_override is True and c.emc.current_mhz == c.emc.max_mhz == 1600
    assert c.fan == "Fan: speed=255"
    assert c.pinned is True and c.not_pinned == []


@pytest.mark.parametrize("text", ["", "NV Power Mode: MAXN\n0\n", "cpu: fast\n"])
def test_jetson_clocks_garbage_raises(text):
    with pytest.raises(ParseError):
        parse_jetson_clocks(text)
