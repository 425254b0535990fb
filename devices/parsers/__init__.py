"""Parsers for the text output of native benchmarking and board tools.

Each module turns one tool's output into a typed dataclass with a pure function
(``text -> result``): no subprocesses, no files, no clocks. The device layer runs the tools and
hands their stdout here; the tests feed the recorded outputs under ``shared/data/jetson/`` and
``shared/data/device-tools/`` (their ``SOURCES.md`` says where each recording came from).

==================  ===========================  ==========================================
tool                function                     result
==================  ===========================  ==========================================
trtexec             ``parse_trtexec``            ``TrtexecResult`` (+ ``LatencyStats``)
tegrastats          ``parse_tegrastats``         ``list[TegrastatsSample]``
                    ``summarize_power``          ``PowerStats``
nvpmodel -q         ``parse_nvpmodel``           ``NvpmodelStatus``
jetson_clocks       ``parse_jetson_clocks``      ``JetsonClocks``
vcgencmd            ``parse_vcgencmd``           ``VcgencmdReadings``
benchmark_app       ``parse_benchmark_app``      ``BenchmarkAppResult``
benchmark_model     ``parse_benchmark_model``    ``BenchmarkModelResult``
==================  ===========================  ==========================================

Every parser first passes its input through :func:`clean_text` (Windows line endings, lone
carriage returns, ANSI colour codes, a byte-order mark), tolerates missing sections (fields it
cannot find stay ``None``), and raises :class:`ParseError` only when the text is not that tool's
output at all. Numbers a tool did not print are ``None`` in the parser's own dataclasses and
``nan`` in the required float fields of :class:`edge_vit.results.LatencyStats`.
"""

from __future__ import annotations

import re

from edge_vit.errors import EdgeVitError


class ParseError(EdgeVitError, ValueError):
    """The text is not the output of the tool its parser reads (or is empty)."""

    def __init__(self, tool: str, message: str, hint: str | None = None):
        super().__init__(f"{tool}: {message}", hint)
        self.tool = tool


_ANSI = re.compile(r"\x1b(?:\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")


def clean_text(text: str | bytes) -> str:
    """Normalise captured output: decode bytes, drop a BOM and ANSI escape sequences, and turn
    ``\\r\\n`` and lone ``\\r`` (Windows, progress bars) into ``\\n``."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", errors="replace")
    if not isinstance(text, str):
        raise TypeError(f"expected str or bytes, got {type(text).__name__}")
    text = _ANSI.sub("", text.lstrip("\ufeff"))
    return text.replace("\r\n", "\n").replace("\r", "\n")


def require_text(tool: str, text: str | bytes) -> str:
    """``clean_text`` that raises :class:`ParseError` for empty output."""
    cleaned = clean_text(text)
    if not cleaned.strip():
        raise ParseError(tool, "empty output")
    return cleaned


# The parser modules import ParseError/clean_text from this package, so they come last.
from devices.parsers.benchmark_app import BenchmarkAppResult, parse_benchmark_app  # noqa: E402
from devices.parsers.benchmark_model import (  # noqa: E402
    BenchmarkModelResult,
    parse_benchmark_model,
)
from devices.parsers.jetson_clocks import JetsonClocks, parse_jetson_clocks  # noqa: E402
from devices.parsers.nvpmodel import NvpmodelStatus, parse_nvpmodel  # noqa: E402
from devices.parsers.tegrastats import (  # noqa: E402
    TegrastatsSample,
    parse_tegrastats,
    summarize_power,
)
from devices.parsers.trtexec import TrtexecResult, parse_trtexec  # noqa: E402
from devices.parsers.vcgencmd import VcgencmdReadings, parse_vcgencmd  # noqa: E402

# tool name -> parser, for callers that pick a parser by the tool they ran.
PARSERS = {
    "trtexec": parse_trtexec,
    "tegrastats": parse_tegrastats,
    "nvpmodel": parse_nvpmodel,
    "jetson_clocks": parse_jetson_clocks,
    "vcgencmd": parse_vcgencmd,
    "benchmark_app": parse_benchmark_app,
    "benchmark_model": parse_benchmark_model,
}

__all__ = [
    "PARSERS",
    "BenchmarkAppResult",
    "BenchmarkModelResult",
    "JetsonClocks",
    "NvpmodelStatus",
    "ParseError",
    "TegrastatsSample",
    "TrtexecResult",
    "VcgencmdReadings",
    "clean_text",
    "parse_benchmark_app",
    "parse_benchmark_model",
    "parse_jetson_clocks",
    "parse_nvpmodel",
    "parse_tegrastats",
    "parse_trtexec",
    "parse_vcgencmd",
    "require_text",
    "summarize_power",
]
