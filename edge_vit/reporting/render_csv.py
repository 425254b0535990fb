"""The report's rows as CSV: one row per :class:`ReportRow`, one column per field, in field
order, from the same ``to_dict`` the JSON uses; :func:`read_csv_rows` reads them back typed."""

from __future__ import annotations

import csv
import dataclasses
import io
import typing
from pathlib import Path

from ..serialization import to_dict
from .schema import ReportRow

FIELDS = tuple(f.name for f in dataclasses.fields(ReportRow))


def _text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)  # str(float) round-trips exactly


def render_csv(rows: list[ReportRow]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(FIELDS)
    for row in rows:
        d = to_dict(row)
        w.writerow([_text(d[f]) for f in FIELDS])
    return buf.getvalue()


def _parse(tp, text: str):
    if text == "":
        return None
    args = [a for a in typing.get_args(tp) if a is not type(None)] or [tp]
    base = args[0]
    if base is bool:
        return text == "true"
    if base is int:
        return int(text)
    if base is float:
        return float(text)
    return text


def read_csv_rows(path_or_text: Path | str) -> list[ReportRow]:
    text = Path(path_or_text).read_text() if isinstance(path_or_text, Path) else path_or_text
    hints = typing.get_type_hints(ReportRow)
    reader = csv.DictReader(io.StringIO(text))
    return [ReportRow(**{k: _parse(hints[k], v) for k, v in rec.items() if k in hints})
            for rec in reader]
