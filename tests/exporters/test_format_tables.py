"""The format -> runtime tables agree: every exported format can be run by the device runner,
evaluated and profiled, and its exporter's runtime module is the one the runner imports."""

from devices import runner
from edge_vit.evaluation.runtimes import RUNTIME_FOR_FORMAT, RUNTIME_MODULE
from edge_vit.profiling import RUNTIMES_FOR_FORMAT
from exporters.base import available_formats, get_exporter


def test_every_format_has_runtimes_everywhere():
    for fmt in available_formats():
        exporter = get_exporter(fmt)
        runtimes = runner.FORMAT_RUNTIMES[fmt]
        assert RUNTIMES_FOR_FORMAT[fmt] == runtimes  # profiling reads the runner's table
        native = RUNTIME_FOR_FORMAT[fmt]  # eval runs the format in its first runtime
        assert native == runtimes[0]
        # the module the exporter loads its artifacts with is the native runtime's
        assert exporter.runtime_modules == (RUNTIME_MODULE[native],)
        assert RUNTIME_MODULE[native] == runner.RUNTIMES[native][0]
        assert runner.INSTALL_HINTS[native]  # a missing runtime says how to install it


def test_the_runtime_modules_agree():
    assert RUNTIME_MODULE == {name: module for name, (module, _) in runner.RUNTIMES.items()}
