"""The report that joins export manifests, device profiles and accuracy results: for each
device, which (pruned) variant gives the best accuracy for its latency.

    report = build_report([Path("artifacts")], Path("results"), Path("results/accuracy"))
    write_report(report, Path("report"))  # report.md / .csv / .json / .html

Modules: ``load`` (read the inputs), ``join`` (the typed rows), ``pareto`` (the front, noise
aware), ``provenance`` (environment, weights, images), ``render_*`` (one per output),
``plots`` / ``svg`` (hand-made inline SVG), ``write`` (files).
"""

from .join import build_report
from .pareto import PARETO_RULE, ParetoMark, Point, pareto_front
from .schema import (
    REPORT_SCHEMA_VERSION,
    DataProvenance,
    DeviceEnvironment,
    ModelProvenance,
    Report,
    ReportRow,
    read_report,
)
from .write import FORMATS, write_report

__all__ = [
    "FORMATS", "PARETO_RULE", "REPORT_SCHEMA_VERSION", "DataProvenance", "DeviceEnvironment",
    "ModelProvenance", "ParetoMark", "Point", "Report", "ReportRow", "build_report",
    "pareto_front", "read_report", "write_report",
]
