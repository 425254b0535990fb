"""The two training jobs behind the CLI: ``edge-vit train`` (a model from scratch, e.g. the
demo) and ``edge-vit finetune`` (a pruned model recovered by distillation from its teacher).
Both write a JSON report next to the weights saying what was trained, on which images, how
long it took and what it scored."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..results import DataRef
from ..serialization import write_json_atomic
from .data import TrainData, load_split
from .loop import TrainConfig, TrainResult, evaluate, train

TRAIN_REPORT = "train_report.json"
FINETUNE_REPORT = "finetune_report.json"


@dataclass
class DataSpec:
    """Where training (and validation) images come from."""

    path: str
    split: str | None = None  # sub-folder, e.g. "train"
    labels: str = "folders"  # or "imagenet": canonical ImageNet-1k indices
    limit: int | None = None  # class-balanced subset
    val_path: str | None = None  # default: path
    val_split: str | None = None
    val_limit: int | None = None

    def load(self, data_cfg: dict, show_progress: bool) -> tuple[TrainData, TrainData | None]:
        tr = load_split(Path(self.path), data_cfg, split=self.split, labels=self.labels,
                        limit=self.limit, show_progress=show_progress)
        va = None
        if self.val_path or self.val_split:
            va = load_split(Path(self.val_path or self.path), data_cfg, split=self.val_split,
                            labels=self.labels, limit=self.val_limit,
                            show_progress=show_progress)
            shared = set(va.paths) & set(tr.paths)
            if shared:
                raise UsageError(f"{len(shared)} of the {len(va)} validation images are "
                                 f"training images (e.g. {sorted(shared)[0]}).",
                                 hint="Give another --val-split or --val-data.")
        return tr, va


@dataclass
class TrainReport:
    """What ``model.safetensors`` beside this report is, and how it came to be."""

    model: str
    model_kwargs: dict[str, Any]
    weights_file: str
    weights_sha256: str
    params: int
    train_data: DataRef
    val_data: DataRef | None
    result: TrainResult
    teacher: dict[str, Any] | None = None  # fine-tuning: which model taught it
    started_from: dict[str, Any] | None = None  # fine-tuning: val top-1 before, spec hash
    finished: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))


def _check_classes(model, data: TrainData) -> None:
    classes = getattr(model, "num_classes", None)
    top = int(data.labels.max()) + 1 if len(data.labels) else 0
    if classes is not None and top > classes:
        raise UsageError(f"The data has class index {top - 1}, but the model has {classes} "
                         "outputs.", hint="Pass --model-arg num_classes=N, or --labels.")


def train_from_scratch(name: str, model_kwargs: dict[str, Any], data: DataSpec, out: Path,
                       cfg: TrainConfig, *, restart: bool = False,
                       progress: Callable[[str], None] | None = None,
                       show_bar: bool = False) -> TrainReport:
    """Random init (seed ``cfg.seed``) -> ``out/model.safetensors`` + ``train_report.json``."""
    import torch
    from safetensors.torch import save_file

    from ..complexity import model_input_size
    from ..data.images import data_config
    from ..files import file_sha256
    from ..models import create_model

    cfg.check()  # before minutes of decoding
    torch.manual_seed(cfg.seed)
    model = create_model(name, model_kwargs)
    train_data, val_data = data.load(data_config(model, model_input_size(model)), show_bar)
    _check_classes(model, train_data)
    result = train(model, train_data, val_data, cfg, Path(out), restart=restart,
                   progress=progress, show_bar=show_bar,
                   identity={"job": "train", "model": name, "model_kwargs": model_kwargs})
    weights = Path(out) / "model.safetensors"
    tmp = weights.with_name(".model.safetensors.tmp")
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(tmp),
              metadata={"model": name})
    tmp.replace(weights)
    report = TrainReport(model=name, model_kwargs=dict(model_kwargs), weights_file=weights.name,
                         weights_sha256=file_sha256(weights),
                         params=sum(p.numel() for p in model.parameters()),
                         train_data=train_data.ref,
                         val_data=val_data.ref if val_data is not None else None, result=result)
    write_json_atomic(Path(out) / TRAIN_REPORT, report)
    return report


def load_teacher(teacher: str | None, spec, *, pretrained: str | bool | None = None):
    """(teacher model, description). ``teacher``: a checkpoint file of the spec's architecture,
    a pruned-model folder, a timm model name, or None for the weights the spec was cut from
    (when they can be rebuilt here: a checkpoint file that still exists, the demo's weights)."""
    from ..models import build_model, create_model, load_checkpoint_into
    from ..pruning import load_pruned

    if teacher is None:
        origin = spec.source_weights
        if origin is not None and origin.kind == "checkpoint" and origin.source \
                and Path(origin.source).is_file():
            teacher = origin.source
        elif origin is not None and origin.kind == "pretrained":
            tag = (origin.source or "").partition(".")[2] or True  # "name.tag" -> tag
            model, source = build_model(spec.arch, model_kwargs=dict(spec.model_kwargs),
                                        pretrained=None if _is_demo(spec.arch) else tag)
            return model.eval(), {"source": source.weights.source or spec.arch,
                                  "state_sha256": source.weights.state_sha256}
        else:
            raise UsageError("Cannot rebuild the unpruned model this one was cut from "
                             f"({origin.kind if origin else 'unknown'} weights).",
                             hint="Pass --teacher CHECKPOINT|PRUNED_DIR|MODEL_NAME.")
    path = Path(teacher)
    if path.is_dir():
        model, _ = load_pruned(path)
        from ..models import state_dict_sha256

        return model.eval(), {"source": str(path),
                              "state_sha256": state_dict_sha256(model.state_dict())}
    if path.is_file():
        model = create_model(spec.arch, dict(spec.model_kwargs))
        info = load_checkpoint_into(model, path)
        return model.eval(), {"source": str(path), "state_sha256": info.state_sha256}
    model, source = build_model(teacher, model_kwargs=dict(spec.model_kwargs),
                                pretrained=pretrained)
    return model.eval(), {"source": source.weights.source or teacher,
                          "state_sha256": source.weights.state_sha256}


def _check_teacher(student, teacher) -> None:
    """Distillation needs the same classes and the same input as the student."""
    from ..complexity import model_input_size

    classes = (getattr(student, "num_classes", None), getattr(teacher, "num_classes", None))
    if None not in classes and classes[0] != classes[1]:
        raise UsageError(f"The teacher has {classes[1]} classes, the pruned model "
                         f"{classes[0]}.", hint="Distil from the model it was pruned from.")
    sizes = (model_input_size(student), model_input_size(teacher))
    if sizes[0] != sizes[1]:
        raise UsageError(f"The teacher takes {sizes[1]} inputs, the pruned model {sizes[0]}.")


def _is_demo(arch: str) -> bool:
    from ..demo import DEMO_MODEL

    return arch.split(".", 1)[0] == DEMO_MODEL


def finetune_pruned(pruned_dir: Path, data: DataSpec, out: Path, cfg: TrainConfig, *,
                    teacher: str | None = None, teacher_pretrained: str | bool | None = None,
                    restart: bool = False, progress: Callable[[str], None] | None = None,
                    show_bar: bool = False) -> TrainReport:
    """Distil ``teacher`` into the pruned model at ``pruned_dir``; the result is written to
    ``out`` as a pruned-model folder (same spec, new weights) that exports like any other."""
    import torch

    from ..complexity import model_input_size
    from ..data.images import data_config
    from ..files import file_sha256
    from ..pruning import load_pruned, save_pruned
    from ..pruning.spec import WEIGHTS_FILE

    cfg.check()
    out = Path(out)
    if Path(pruned_dir).resolve() == out.resolve():
        raise UsageError("--out must differ from the pruned model's folder (it is the "
                         "starting point and is kept).")
    student, spec = load_pruned(pruned_dir)
    teacher_model, teacher_info = load_teacher(teacher, spec, pretrained=teacher_pretrained)
    say = progress or (lambda m: None)
    _check_teacher(student, teacher_model)
    origin = spec.source_weights
    if origin is not None and origin.state_sha256 and \
            teacher_info.get("state_sha256") != origin.state_sha256:
        say("note: the teacher is not the model this one was pruned from "
            "(its weights differ); distilling from it anyway")
    cfg_data = data_config(student, model_input_size(student))
    train_data, val_data = data.load(cfg_data, show_bar)
    _check_classes(student, train_data)
    before = None
    if val_data is not None:
        before = evaluate(student, val_data, cfg.eval_batch_size)[0]
        say(f"pruned model before fine-tuning: {before:.2f} % top-1 on {len(val_data)} images")
    torch.manual_seed(cfg.seed)
    from ..models import state_dict_sha256

    identity = {"job": "finetune", "spec": spec.spec_hash(),
                "start": state_dict_sha256(student.state_dict()),
                "teacher": teacher_info.get("state_sha256")}
    result = train(student, train_data, val_data, cfg, out, teacher=teacher_model,
                   restart=restart, progress=progress, show_bar=show_bar, identity=identity)
    spec.finetune = {"teacher": teacher_info, "epochs": result.epochs_done,
                     "from": str(pruned_dir), "train_data": train_data.ref.fingerprint[:16],
                     "val_top1_before": before, "val_top1_after": result.val_top1}
    save_pruned(student.eval(), spec, out)
    report = TrainReport(model=spec.arch, model_kwargs=dict(spec.model_kwargs),
                         weights_file=WEIGHTS_FILE, weights_sha256=file_sha256(out / WEIGHTS_FILE),
                         params=sum(p.numel() for p in student.parameters()),
                         train_data=train_data.ref,
                         val_data=val_data.ref if val_data is not None else None, result=result,
                         teacher=teacher_info,
                         started_from={"folder": str(pruned_dir), "spec_hash": spec.spec_hash(),
                                       "val_top1": before})
    write_json_atomic(out / FINETUNE_REPORT, report)
    return report
