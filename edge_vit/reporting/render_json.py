"""The report as JSON: the typed :class:`Report` through the one serializer, schema-versioned
(read it back with :func:`edge_vit.reporting.schema.read_report`)."""

from __future__ import annotations

from ..serialization import dumps
from .schema import Report


def render_json(report: Report) -> str:
    return dumps(report)
