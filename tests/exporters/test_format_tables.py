"""One format table: each format's declared runtimes are the ones the device runner opens it
with, profiling plans, eval uses (the first) and the report joins on; each runtime's module and
install hint come from its one backend declaration. Checked for the built-in formats and, with
the test plugin on sys.path (tests/plugin/toy), for a third party's format too."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from devices.shipping import runner_files
from edge_vit import manifest as mf
from edge_vit.evaluation.runtimes import runtime_for
from edge_vit.models import ModelSource
from edge_vit.profiling import ArtifactEntry, ProfileSettings, plan_runs
from edge_vit.reporting.join import _format_runtimes
from exporters.base import (
    available_formats,
    get_exporter,
    runtime_spec,
    runtimes_for,
    shipped_backends,
)

PLUGIN = Path(__file__).resolve().parents[1] / "plugin" / "toy"


@pytest.fixture(params=["built-in", "with-plugin"])
def formats(request, monkeypatch):
    if request.param == "with-plugin":
        monkeypatch.syspath_prepend(str(PLUGIN))
        assert "npvit" in available_formats()
    else:
        assert "npvit" not in available_formats()
    return available_formats()


def _deployed_runner_view(folder: Path) -> dict:
    """What the runner says on a device: deploy its files to a folder and probe there."""
    for local, remote in runner_files(shipped_backends()):
        shutil.copy(local, folder / remote)
    done = subprocess.run([sys.executable, str(folder / "edge_vit_runner.pyz"), "probe"],
                          capture_output=True, text=True, check=True, timeout=300)
    return json.loads(done.stdout)


def test_every_format_has_runtimes_everywhere(formats, tmp_path):
    probe = _deployed_runner_view(tmp_path)
    for fmt in formats:
        exporter = get_exporter(fmt)
        assert runtimes_for(fmt) == exporter.runtimes
        assert tuple(probe["formats"][fmt]) == exporter.runtimes  # the runner opens it alike
        assert runtime_for(fmt) == exporter.runtimes[0]  # eval runs the native one
        assert _format_runtimes(fmt) == exporter.runtimes  # the report joins on them
        assert exporter.runtime_modules == (runtime_spec(exporter.runtimes[0]).MODULE,)
        for name in exporter.runtimes:
            spec = runtime_spec(name)
            assert spec.NAME == name and fmt in spec.FORMATS and spec.INSTALL_HINT
            assert name in probe["runtimes"]  # the device's probe reports it


def test_profiling_plans_every_declared_runtime(formats, tmp_path):
    for fmt in formats:
        record = mf.ArtifactRecord(format=fmt, precision="fp32", path=f"{fmt}/m", status=mf.OK)
        model = mf.ModelRecord(id="m", source=ModelSource(name="x"),
                               input_shape=[1, 3, 32, 32], params=1, macs=1)
        entry = ArtifactEntry(manifest=mf.Manifest(model=model, artifacts=[record]),
                              root=tmp_path, record=record)
        available = dict.fromkeys(get_exporter(fmt).runtimes, "1.0")
        plans, _ = plan_runs([entry], available, ProfileSettings())
        planned = {p.runtime for p in plans}
        assert planned and planned <= set(get_exporter(fmt).runtimes)
