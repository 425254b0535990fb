"""Write a report in any of its formats: ``report.md``, ``report.csv``, ``report.json``,
``report.html`` under one folder, each written atomically."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import UsageError
from ..files import write_text_atomic
from .render_csv import render_csv
from .render_html import render_html
from .render_json import render_json
from .render_md import render_markdown
from .schema import Report

RENDERERS: dict[str, Callable[[Report], str]] = {
    "md": render_markdown,
    "csv": lambda report: render_csv(report.rows),
    "json": render_json,
    "html": render_html,
}
FORMATS = tuple(RENDERERS)


def parse_formats(text: str | Iterable[str]) -> tuple[str, ...]:
    items = text.split(",") if isinstance(text, str) else list(text)
    formats = tuple(dict.fromkeys(f.strip().lower() for f in items if f.strip()))
    bad = [f for f in formats if f not in RENDERERS]
    if bad or not formats:
        raise UsageError(f"Unknown report format(s) {bad or '(none)'}; choose from "
                         f"{', '.join(FORMATS)}.")
    return formats


def write_report(report: Report, out_dir: Path, formats: Iterable[str] = FORMATS
                 ) -> dict[str, Path]:
    """Render ``report`` into ``out_dir``; returns format -> path written."""
    formats = parse_formats(formats)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for fmt in formats:
        path = out_dir / f"report.{fmt}"
        write_text_atomic(path, RENDERERS[fmt](report))
        written[fmt] = path
    return written
