"""tegrastats parser and power summary on shared/data/jetson/tegrastats (see SOURCES.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from devices.parsers import ParseError
from devices.parsers.tegrastats import (
    input_rail,
    parse_tegrastats,
    parse_tegrastats_line,
    summarize_power,
)

DATA = Path(__file__).resolve().parents[4] / "shared" / "data"
TEG = DATA / "jetson" / "tegrastats"

# file -> (samples, board power rail picked by summarize_power)
EXPECTED = {
    "agx-orin-64gb_jp5.1_gr3d2_catid.txt": (1, "sum"),
    "agx-orin-64gb_jp6_jetson-exporter-issue14.txt": (1, "sum"),
    "agx-orin-64gb_timestamped.txt": (15, "sum"),
    "agx-xavier_jp4.2_no-mW-units_gtop-pr7.txt": (1, "sum"),
    "nano-4gb_pom-rails.txt": (40, "POM_5V_IN"),
    "nano_5w-2cores_no-rails_single.txt": (1, None),
    "nano_iram_pom-rails_effex-issue12.txt": (2, "POM_5V_IN"),
    "tx2_l4t32_vdd-sys-rails_tx-utils-issue3.txt": (1, "VDD_IN"),
    "tx2_no-sudo_vdd-rails.txt": (20, "VDD_IN"),
    "xavier-nx-8gb_vdd-mW_timestamped.txt": (40, "VDD_IN"),
}


def read(name: str) -> str:
    return (TEG / name).read_text(encoding="utf-8")


def test_every_recording_is_listed():
    assert DATA.is_dir() and DATA.name == "data" and DATA.parent.name == "shared"
    assert sorted(p.name for p in TEG.glob("*.txt")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_count_and_input_rail(name):
    samples = parse_tegrastats(read(name))
    count, rail = EXPECTED[name]
    assert len(samples) == count
    assert input_rail(samples) == rail
    assert all(s.ram_total_mb and s.cpus for s in samples)


def _instant(name: str, rail: str) -> list[float]:
    """Independent reading of a rail's instantaneous mW straight from the file."""
    return [float(v) for v in re.findall(rf"\b{rail} (\d+)(?:mW)?/", read(name))]


def test_xavier_nx_vdd_in_with_mw_units_and_timestamps():
    samples = parse_tegrastats(read("xavier-nx-8gb_vdd-mW_timestamped.txt"))
    first = samples[0]
    assert first.timestamp == "2025-10-01T20:05:55"
    assert (first.ram_used_mb, first.ram_total_mb) == (2274, 6834)
    assert (first.swap_used_mb, first.swap_total_mb) == (542, 3417)
    assert [c.online for c in first.cpus] == [True] * 4 + [False] * 2
    assert (first.cpus[0].load_percent, first.cpus[0].freq_mhz) == (99, 1189)
    assert first.gpu.load_percent == 22 and first.gpu.freq_mhz == []  # "GR3D_FREQ 22%"
    assert first.power_mw == {"VDD_IN": 5542, "VDD_CPU_GPU_CV": 1594, "VDD_SOC": 1234}
    assert first.units_assumed is False
    assert samples[-1].timestamp == "2025-10-01T20:06:35"
    assert samples[-1].power_avg_mw["VDD_IN"] == 11342  # tegrastats' own running mean

    vdd_in = _instant("xavier-nx-8gb_vdd-mW_timestamped.txt", "VDD_IN")
    power = summarize_power(samples, inferences=1000, seconds=40.0)
    assert power.source == "tegrastats (VDD_IN)" and power.samples == 40
    assert power.mean_w == pytest.approx(sum(vdd_in) / len(vdd_in) / 1000)
    assert power.peak_w == max(vdd_in) / 1000 == 13.83
    assert power.rails["VDD_SOC"] == pytest.approx(
        sum(_instant("xavier-nx-8gb_vdd-mW_timestamped.txt", "VDD_SOC")) / 40 / 1000
    )
    assert power.energy_per_inference_mj == pytest.approx(power.mean_w * 40.0)


def test_nano_pom_rails_without_units_use_pom_5v_in():
    name = "nano-4gb_pom-rails.txt"
    samples = parse_tegrastats(read(name))
    first = samples[0]
    assert first.power_mw == {"POM_5V_IN": 920, "POM_5V_GPU": 0, "POM_5V_CPU": 119}
    assert first.units_assumed is True
    assert (first.gpu.load_percent, first.gpu.freq_mhz) == (0, [76])  # "GR3D_FREQ 0%@76"
    assert (first.emc.load_percent, first.emc.freq_mhz) == (0, [204])
    assert first.temperatures_c["PLL"] == 24 and first.engines["APE"].freq_mhz == [25]
    power = summarize_power(samples)
    pom_in = _instant(name, "POM_5V_IN")
    assert power.mean_w == pytest.approx(sum(pom_in) / 40 / 1000)
    assert power.peak_w == 5.206
    assert power.energy_per_inference_mj is None  # no inferences / seconds given
    assert set(power.rails) == {"POM_5V_IN", "POM_5V_GPU", "POM_5V_CPU"}


def test_nano_issue_excerpt_skips_the_blank_line():
    samples = parse_tegrastats(read("nano_iram_pom-rails_effex-issue12.txt"))
    assert [s.power_mw["POM_5V_IN"] for s in samples] == [2746, 2980]
    assert summarize_power(samples).mean_w == pytest.approx(2.863)


def test_agx_orin_has_no_input_rail_so_rails_are_summed_and_nc_dropped():
    samples = parse_tegrastats(read("agx-orin-64gb_jp5.1_gr3d2_catid.txt"))
    s = samples[0]
    assert s.timestamp == "2023-04-24T00:01:24"
    assert s.power_mw == {
        "VDD_GPU_SOC": 2399,
        "VDD_CPU_CV": 400,
        "VIN_SYS_5V0": 4032,
        "VDDQ_VDD2_1V8AO": 301,
    }
    assert "NC" not in s.power_mw
    assert s.engines["GR3D2_FREQ"].load_percent == 0
    assert s.engines["VIC_FREQ"].freq_mhz == [729] and s.engines["VIC_FREQ"].load_percent is None
    assert s.emc.freq_mhz == [2133]
    assert s.offline_sensors == ["CV0", "CV1", "GPU", "CV2"]  # printed as -256C
    assert s.temperatures_c["tj"] == 42.593 and "GPU" not in s.temperatures_c
    power = summarize_power(samples)
    assert power.source == "tegrastats (sum of rails)"
    assert power.mean_w == pytest.approx((2399 + 400 + 4032 + 301) / 1000)


def test_agx_orin_jp6_per_gpc_gpu_clocks_and_offline_engines():
    samples = parse_tegrastats(read("agx-orin-64gb_timestamped.txt"))
    s = samples[0]
    assert (s.gpu.load_percent, s.gpu.freq_mhz) == (39, [305, 0])  # "39%@[305,0]"
    assert [c.online for c in s.cpus] == [True] * 8 + [False] * 4
    assert s.engines["NVENC"].online is False and s.engines["PVA0_FREQ"].online is False
    assert s.temperatures_c["cpu"] == 43.906  # lower-case sensor names on this release
    assert s.power_mw["VIN_SYS_5V0"] == 3315
    one = parse_tegrastats(read("agx-orin-64gb_jp6_jetson-exporter-issue14.txt"))[0]
    assert one.gpu.freq_mhz == [0, 0] and one.swap_used_mb == 19


def test_agx_xavier_bare_rail_names_do_not_clash_with_cpu_or_temperatures():
    s = parse_tegrastats(read("agx-xavier_jp4.2_no-mW-units_gtop-pr7.txt"))[0]
    assert s.power_mw == {"GPU": 463, "CPU": 618, "SOC": 2936, "CV": 0, "VDDRQ": 309, "SYS5V": 3306}
    assert s.units_assumed is True
    assert len(s.cpus) == 8 and s.temperatures_c["GPU"] == 30.5
    assert s.gpu.load_percent == 0 and s.gpu.freq_mhz == []
    assert summarize_power([s]).mean_w == pytest.approx(7.632)


def test_tx2_rails_and_missing_swap_emc_gpu():
    s = parse_tegrastats(read("tx2_no-sudo_vdd-rails.txt"))[0]
    assert s.swap_total_mb is None and s.emc is None and s.gpu is None
    assert s.power_mw["VDD_IN"] == 3624 and s.temperatures_c["BCPU"] == 35
    old = parse_tegrastats(read("tx2_l4t32_vdd-sys-rails_tx-utils-issue3.txt"))[0]
    assert old.power_mw["VDD_SYS_GPU"] == 153 and old.power_avg_mw["VDD_SYS_GPU"] == 158
    assert summarize_power([old]).mean_w == 3.14


def test_nano_without_rails_gives_empty_power_stats():
    samples = parse_tegrastats(read("nano_5w-2cores_no-rails_single.txt"))
    assert [c.online for c in samples[0].cpus] == [True, True, False, False]
    power = summarize_power(samples, inferences=10, seconds=1.0)
    assert (power.samples, power.mean_w, power.energy_per_inference_mj) == (0, None, None)


def test_crlf_ansi_and_a_truncated_last_line():
    text = read("tx2_no-sudo_vdd-rails.txt")
    lines = text.splitlines()
    cut = lines[0][: lines[0].index("VDD_IN")]  # killed mid-line: no rails yet
    noisy = "\r\n".join(["\x1b[0m" + line for line in lines] + [cut])
    samples = parse_tegrastats(noisy)
    assert len(samples) == 21 and samples[-1].power_mw == {}
    power = summarize_power(samples)
    assert power.samples == 20  # the truncated line lacks VDD_IN and is not counted
    assert power.mean_w == summarize_power(parse_tegrastats(text)).mean_w


@pytest.mark.parametrize("text", ["", "garbage\n", "CPU [10%@102]\n"])
def test_garbage_raises(text):
    with pytest.raises(ParseError):
        parse_tegrastats(text)


def test_line_parser_rejects_a_non_tegrastats_line():
    with pytest.raises(ParseError):
        parse_tegrastats_line("NV Power Mode: MAXN")
