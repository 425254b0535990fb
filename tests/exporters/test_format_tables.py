"""One format table: each format's declared runtimes are the ones the device runner opens it
with, profiling plans, eval uses (the first) and the report joins on; each runtime's module and
install hint come from its one backend declaration."""

from devices.runner import backends
from edge_vit.evaluation.runtimes import runtime_for
from edge_vit.models import ModelSource
from edge_vit.profiling import ArtifactEntry, ProfileSettings, plan_runs
from exporters.base import available_formats, get_exporter, runtime_spec, runtimes_for


def test_every_format_has_runtimes_everywhere():
    runner_table = backends.format_runtimes()
    for fmt in available_formats():
        exporter = get_exporter(fmt)
        assert runtimes_for(fmt) == exporter.runtimes
        assert runner_table[fmt] == exporter.runtimes  # the runner opens it with the same
        assert runtime_for(fmt) == exporter.runtimes[0]  # eval runs the native one
        native = runtime_spec(exporter.runtimes[0])
        assert exporter.runtime_modules == (native.MODULE,)
        for name in exporter.runtimes:
            spec = runtime_spec(name)
            assert spec.NAME == name and fmt in spec.FORMATS and spec.INSTALL_HINT


def test_profiling_plans_every_declared_runtime(tmp_path):
    from edge_vit import manifest as mf

    for fmt in available_formats():
        record = mf.ArtifactRecord(format=fmt, precision="fp32", path=f"{fmt}/m", status=mf.OK)
        model = mf.ModelRecord(id="m", source=ModelSource(name="x"),
                               input_shape=[1, 3, 32, 32], params=1, macs=1)
        entry = ArtifactEntry(manifest=mf.Manifest(model=model, artifacts=[record]),
                              root=tmp_path, record=record)
        available = dict.fromkeys(get_exporter(fmt).runtimes, "1.0")
        plans, _ = plan_runs([entry], available, ProfileSettings())
        planned = {p.runtime for p in plans}
        assert planned <= set(get_exporter(fmt).runtimes) and planned
