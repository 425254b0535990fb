"""Typed errors raised by the library; the CLI turns each into a message and an exit code."""

from __future__ import annotations


class EdgeVitError(Exception):
    """Base of every error edge-vit raises on purpose. ``exit_code`` is what the CLI returns."""

    exit_code = 1
    hint: str | None = None

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        if hint is not None:
            self.hint = hint


class UsageError(EdgeVitError):
    """The request itself is malformed (bad option value, unknown format)."""

    exit_code = 2


class UnknownModelError(UsageError):
    """The model name is not a timm ViT/DeiT/ResMLP that edge-vit supports."""


class PruningPlanError(UsageError):
    """A pruning plan that cannot be applied to the model (checked before any work)."""


class CheckpointError(EdgeVitError):
    """A checkpoint file is missing, corrupt, or does not fit the architecture."""

    exit_code = 3


class WeightsUnavailableError(EdgeVitError):
    """Pretrained weights cannot be fetched (no network, unknown tag)."""

    exit_code = 3


class MissingRuntimeError(EdgeVitError):
    """An optional converter or runtime is not installed."""

    exit_code = 4


class ExportError(EdgeVitError):
    """A conversion step failed; other formats are kept."""

    exit_code = 5


class ArtifactLoadError(EdgeVitError):
    """A runtime could not load an artifact (corrupt, truncated, or from another version)."""

    exit_code = 5


class ValidationError(EdgeVitError):
    """An artifact does not match its PyTorch source (optimum-style: names, shapes, values)."""

    exit_code = 6


class ShapeError(ValidationError):
    """The artifact's output shape differs from PyTorch's."""


class AtolError(ValidationError):
    """The artifact's values differ from PyTorch's beyond the precision's tolerance."""


class ManifestError(EdgeVitError):
    """A manifest or pruned-model spec is missing, corrupt, or of an unknown schema."""

    exit_code = 3


class DeviceError(EdgeVitError):
    """A device (local, SSH, Raspberry Pi, Jetson) failed: lost connection, bad transfer."""

    exit_code = 7


class DeviceUnreachableError(DeviceError):
    """The device cannot be reached: refused, timed out, no route, no SSH banner."""


class ClusterUnreachableError(EdgeVitError):
    """The Ray cluster named by --ray-address does not answer (Ray itself would retry for
    minutes)."""

    exit_code = 7


class DeviceAuthenticationError(DeviceError):
    """The device answered but refused our credentials (user, key)."""


class HostKeyError(DeviceError):
    """The SSH host key is unknown (and trust-on-first-use is off) or has changed."""


class DeviceCommandError(DeviceError):
    """A command run with ``check=True`` exited non-zero or timed out; ``result`` has the details."""

    def __init__(self, message: str, result=None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.result = result


class InventoryError(UsageError):
    """The device inventory (devices.toml) is unreadable, malformed, or names no such device."""


# Exit status of a command stopped by Ctrl-C (SIGINT), as shells report it: 128 + 2.
INTERRUPTED_EXIT_CODE = 130
# Commands that ran to the end with some parts failed (every finished part is kept) exit with
# the code of the failure's kind: ExportError / ValidationError (export), DeviceError
# (profile), these two for the rest.
EVAL_FAILED_EXIT_CODE = 1
SWEEP_UNITS_FAILED_EXIT_CODE = 8
