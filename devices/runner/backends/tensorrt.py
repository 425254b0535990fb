"""TensorRT: listed so that ``probe`` reports it; engines are built and timed by trtexec (the
runner's ``trtexec`` command, a Jetson's profiler), not loaded here."""

from ..core import MissingRuntime

NAME = "tensorrt"
MODULE = "tensorrt"
DISTS = ("tensorrt", "tensorrt-cu12", "tensorrt-cu11")
INSTALL_HINT = "ships with JetPack (python3-libnvinfer); profile engines with trtexec"
FORMATS = ()


def open_model(args):
    raise MissingRuntime("TensorRT engines are timed with trtexec, not loaded by the runner",
                         INSTALL_HINT)
