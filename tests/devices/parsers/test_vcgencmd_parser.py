"""vcgencmd parser on shared/data/device-tools/vcgencmd (see its SOURCES.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.parsers import ParseError
from devices.parsers.vcgencmd import decode_throttled, parse_vcgencmd

VC = Path(__file__).resolve().parents[4] / "shared" / "data" / "device-tools" / "vcgencmd"


def read(name: str) -> str:
    return (VC / name).read_text(encoding="utf-8")


def test_lists_every_recording():
    assert len(list(VC.glob("*.txt"))) == 4


def test_clock_temp_throttled_with_trailing_spaces():
    r = parse_vcgencmd(read("rpi_clock-temp-throttled_duckietown358.txt"))
    assert r.clocks_hz == {"45": 1_400_000_000} and r.arm_clock_hz == 1_400_000_000
    assert r.temperatures_c == [62.3] and r.temperature_c == 62.3
    assert r.throttled.value == 0 and r.throttled.hex == "0x0"
    assert r.throttled.throttled_now is False and r.throttled.ever is False
    assert r.throttled.describe() == "0x0: never throttled since boot"


def test_0x50000_occurred_since_boot_only():
    r = parse_vcgencmd(read("rpi3_temp-throttled-0x50000_firmware615.txt"))
    assert r.temperatures_c == [39.2, 38.6] and r.temperature_c == 38.6
    t = r.throttled
    assert (t.value, t.hex) == (0x50000, "0x50000")
    assert t.now == [] and t.since_boot == ["under-voltage", "throttled"]
    assert t.throttled_now is False and t.ever is True


def test_0x50005_under_voltage_and_throttled_now():
    t = parse_vcgencmd(read("rpi3_temp-throttled-0x50005_firmware615.txt")).throttled
    assert t.now == ["under-voltage", "throttled"]
    assert t.since_boot == ["under-voltage", "throttled"]
    assert t.throttled_now is True
    assert t.describe() == (
        "0x50005: now: under-voltage, throttled; since boot: under-voltage, throttled"
    )


def test_0x80000_soft_temperature_limit_since_boot():
    r = parse_vcgencmd(read("rpi_throttled-0x80000_raspiblitz4008.txt"))
    assert r.throttled.since_boot == ["soft-temperature-limit"] and r.throttled.now == []
    assert r.temperatures_c == [] and r.temperature_c is None and r.arm_clock_hz is None


def test_decode_all_bits_and_unknown_ones():
    t = decode_throttled(0xF000F | 1 << 5)
    assert t.now == ["under-voltage", "arm-frequency-capped", "throttled", "soft-temperature-limit"]
    assert t.since_boot == t.now and t.unknown_bits == [5]
    assert decode_throttled("throttled=0x2").now == ["arm-frequency-capped"]


def test_crlf_output():
    text = read("rpi_clock-temp-throttled_duckietown358.txt").replace("\n", "\r\n")
    assert parse_vcgencmd(text).arm_clock_hz == 1_400_000_000


@pytest.mark.parametrize("text", ["", 'error=1 error_msg="Command not registered"\n', "0x5\n"])
def test_garbage_raises(text):
    with pytest.raises(ParseError):
        parse_vcgencmd(text)
