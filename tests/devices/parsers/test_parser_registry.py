"""Across all parsers: every recording is parsed, other tools' output is rejected, and results
go through edge-vit's one serializer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devices.parsers import PARSERS, ParseError, clean_text
from devices.parsers.jetson_clocks import JetsonClocks
from devices.parsers.tegrastats import TegrastatsSample
from edge_vit.errors import EdgeVitError
from edge_vit.serialization import from_dict, to_dict

DATA = Path(__file__).resolve().parents[4] / "shared" / "data"
FOLDERS = {
    "jetson/trtexec": "trtexec",
    "jetson/tegrastats": "tegrastats",
    "jetson/nvpmodel": "nvpmodel",
    "jetson/jetson_clocks": "jetson_clocks",
    "device-tools/vcgencmd": "vcgencmd",
    "device-tools/openvino_benchmark_app": "benchmark_app",
    "device-tools/tflite_benchmark_model": "benchmark_model",
}
RECORDINGS = sorted(
    (path, tool) for folder, tool in FOLDERS.items() for path in (DATA / folder).glob("*.txt")
)
# jetson_clocks --show ends with nvpmodel's own "NV Power Mode:" line on AGX Orin, so the
# nvpmodel parser reading it is correct, not a false positive.
ACCEPTED_ELSEWHERE = {("jetson_clocks", "nvpmodel")}


def test_every_recording_folder_is_covered():
    assert DATA.is_dir() and DATA.name == "data" and DATA.parent.name == "shared"
    folders = {p.parent.relative_to(DATA).as_posix() for p in DATA.glob("*/*/*.txt")}
    folders = {f for f in folders if f.split("/")[0] in ("jetson", "device-tools")}
    assert folders == set(FOLDERS)
    assert len(RECORDINGS) == 36


@pytest.mark.parametrize("path,tool", RECORDINGS, ids=lambda x: getattr(x, "name", x))
def test_recording_parses_with_its_tool(path, tool):
    assert PARSERS[tool](path.read_bytes()) is not None


@pytest.mark.parametrize("path,owner", RECORDINGS, ids=lambda x: getattr(x, "name", x))
def test_other_parsers_reject_the_recording(path, owner):
    text = path.read_text(encoding="utf-8")
    for tool, parse in PARSERS.items():
        if tool == owner or ((owner, tool) in ACCEPTED_ELSEWHERE and "NV Power Mode" in text):
            continue
        with pytest.raises(ParseError):
            parse(text)


@pytest.mark.parametrize("tool", sorted(PARSERS))
@pytest.mark.parametrize(
    "text", ["", "\r\n\x1b[0m\r\n", "lorem ipsum dolor sit amet\n", b"\xff\xfe binary \x00 junk"]
)
def test_garbage_raises_a_typed_value_error(tool, text):
    with pytest.raises(ParseError) as err:
        PARSERS[tool](text)
    assert isinstance(err.value, ValueError) and isinstance(err.value, EdgeVitError)
    assert err.value.tool == tool and str(err.value).startswith(f"{tool}: ")


def test_clean_text():
    assert clean_text("\ufeffa\r\nb\rc\x1b[31;1md\x1b[0m") == "a\nb\ncd"
    assert clean_text(b"x\r\n") == "x\n"
    with pytest.raises(TypeError):
        clean_text(3)  # type: ignore[arg-type]


def test_results_round_trip_through_the_serializer():
    clocks = PARSERS["jetson_clocks"](
        (DATA / "jetson/jetson_clocks/tx1_l4t28.1_jetson_clocks.sh.txt").read_text()
    )
    assert from_dict(JetsonClocks, json.loads(json.dumps(to_dict(clocks)))) == clocks
    sample = PARSERS["tegrastats"](
        (DATA / "jetson/tegrastats/agx-orin-64gb_timestamped.txt").read_text()
    )[0]
    assert from_dict(TegrastatsSample, json.loads(json.dumps(to_dict(sample)))) == sample
