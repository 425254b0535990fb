"""The `edge-vit` group and what every command shares: the consoles (no rich markup: library
messages print verbatim), typed errors turned into a message and an exit code, one-line
logging, and the option declarations more than one command uses."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.text import Text

from .. import __version__
from ..errors import INTERRUPTED_EXIT_CODE, EdgeVitError, UsageError

# No rich markup anywhere: library messages are printed verbatim ('[devices.pi]' in a hint must
# survive); colour comes only from styled() parts.
console = Console(stderr=False, highlight=False, markup=False)
err_console = Console(stderr=True, highlight=False, markup=False)
if not console.is_terminal:  # piped or captured: keep table rows whole instead of 80 columns
    console.width = 160
    err_console.width = 160


def styled(*parts) -> Text:
    """A line of plain strings and (text, style) pairs; no part is read as markup."""
    return Text.assemble(*parts)


class EdgeVitGroup(click.Group):
    """Every command's EdgeVitError becomes a one-line message (plus hint) and its exit code."""

    def invoke(self, ctx):
        from .. import interrupts

        interrupts.install()
        try:
            return super().invoke(ctx)
        except EdgeVitError as exc:
            err_console.print(styled(("error:", "bold red"), f" {exc}"))
            if exc.hint:
                err_console.print(styled(("hint:", "yellow"), f" {exc.hint}"))
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:  # click would say "Aborted!" and exit 1
            err_console.print("interrupted: everything written before it is kept (each artifact, "
                              "profile round and sweep unit is saved as it finishes); run the "
                              "same command again to go on.")
            ctx.exit(INTERRUPTED_EXIT_CODE)


def kv_pairs(values: tuple[str, ...]) -> dict:
    """--model-arg depth=6 --model-arg img_size=32 -> {"depth": 6, "img_size": 32}"""
    out = {}
    for item in values:
        if "=" not in item:
            raise UsageError(f"--model-arg expects KEY=VALUE, got {item!r}")
        key, val = item.split("=", 1)
        try:
            out[key.strip()] = json.loads(val)
        except json.JSONDecodeError:
            out[key.strip()] = val
    return out


def csv_list(text: str) -> tuple[str, ...]:
    return tuple(t.strip().lower() for t in text.split(",") if t.strip())


@click.group(cls=EdgeVitGroup)
@click.version_option(__version__, prog_name="edge-vit")
@click.option("-v", "--verbose", is_flag=True, help="Log progress details to stderr.")
def main(verbose: bool) -> None:
    """Prune timm Vision Transformers, export them to ONNX / OpenVINO / TFLite, and check
    every artifact against PyTorch."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLineFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])


class _OneLineFormatter(logging.Formatter):
    """Log records as one line each: a record's traceback (any library's) becomes its last
    line, the exception itself; the typed error the command ends with says what to do."""

    def formatException(self, ei) -> str:  # noqa: N802 - logging's name
        exc = ei[1]
        return f"  ({type(exc).__name__}: {exc})" if exc is not None else ""

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return ""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\n  (", " (")


# the model options, declared once for every command that builds a model
pretrained_option = click.option(
    "--pretrained", "pretrained", is_flag=False, flag_value="default", default=None,
    callback=lambda ctx, param, v: True if v == "default" else v,
    help="Load timm's pretrained weights (optionally a tag: --pretrained=in1k). Needs network "
         "access to the hub.")
checkpoint_option = click.option(
    "--checkpoint", type=click.Path(path_type=Path, dir_okay=False),
    help="Weights from a .pth/.pt state dict or .safetensors file.")
model_arg_option = click.option(
    "--model-arg", "model_args", multiple=True, metavar="KEY=VALUE",
    help="Extra timm.create_model argument (e.g. img_size=32); repeatable.")
seed_option = click.option("--seed", default=0, show_default=True,
                           help="Seed for random init/inputs.")


def model_options(fn):
    for opt in (seed_option, model_arg_option, checkpoint_option, pretrained_option):
        fn = opt(fn)
    return fn


class LazyChoice(click.Choice):
    """A choice read from a registry when it is first needed (the pruning registry imports
    torch: not at CLI start-up)."""

    def __init__(self, load):
        self._load = load
        super().__init__(())

    @property
    def choices(self):
        return tuple(self._load())

    @choices.setter
    def choices(self, _value):
        pass


def _criteria():
    from ..pruning import CRITERIA

    return CRITERIA


# the pruning options, declared once for export and prune
criterion_option = click.option(
    "--criterion", type=LazyChoice(_criteria),
    help="Importance criterion for pruning (default: magnitude, data-free).")
round_to_option = click.option(
    "--round-to", type=int, help="Round pruned widths to a multiple of this (default 8; 1 "
                                 "disables).")
calib_option = click.option(
    "--calib", "calib_dir", type=click.Path(path_type=Path),
    help="Image folder (or .tar.gz) for data-driven importance and int8 calibration (export: "
         "its images not used for calibration are parity inputs).")
calib_size_option = click.option(
    "--calib-size", type=click.IntRange(min=1), default=32, show_default=True,
    help="How many --calib images (a fixed class-balanced subset) calibrate int8.")
importance_size_option = click.option(
    "--importance-size", type=click.IntRange(min=1), default=256, show_default=True,
    help="How many --calib images (class-balanced) a data-driven criterion scores on.")
calib_labels_option = click.option(
    "--calib-labels", type=click.Choice(["auto", "imagenet", "folders", "none"]),
    default="auto", show_default=True,
    help="Labels a data-driven criterion scores against. auto: ImageNet's for synset folders "
         "and a 1000-class model, the folders' own for one folder per class of the model, "
         "else none (the model's own predictions).")


def pruning_options(fn):
    for opt in (calib_labels_option, importance_size_option, calib_size_option, calib_option,
                round_to_option, criterion_option):
        fn = opt(fn)
    return fn


