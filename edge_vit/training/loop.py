"""One training loop for both jobs: from scratch on labels, and recovery fine-tuning against a
teacher's soft targets (Hinton et al.'s distillation: ``alpha * T^2 * KL(student/T || teacher/T)
+ (1 - alpha) * CE(labels)``).

Resumable exactly: every epoch ends with an atomic checkpoint (model, optimizer, history), the
learning rate is a pure function of the step, and each epoch's shuffle and augmentation draw
from a generator seeded by (seed, epoch) -- so an interrupted run resumed from epoch k follows
the same path as one that never stopped. Checkpoints are written with ``torch.save`` and read
back with ``weights_only=True`` (tensors and plain containers only, never pickled code).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UsageError
from .data import TrainData

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"
# Fields that do not change what is learned: a resumed run may differ in these. (``epochs``
# does change it -- the cosine schedule spans all epochs -- and is checked on its own, for a
# clearer message.)
_NOT_IN_KEY = ("threads", "device", "eval_batch_size", "epochs")


@dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 128
    lr: float = 1e-3  # peak AdamW learning rate, after a linear warm-up
    min_lr: float = 1e-5  # cosine floor
    weight_decay: float = 0.05  # not applied to biases, norms, position embedding, cls token
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.1
    grad_clip: float | None = 1.0
    kd_temperature: float = 4.0  # distillation only
    kd_alpha: float = 0.7  # distillation only: weight of the soft targets (1.0: no labels)
    augment: bool = True  # random crop (reflect-padded by size/8) + horizontal flip
    seed: int = 0
    eval_batch_size: int = 256
    threads: int | None = None  # torch intra-op threads; None: torch's default
    device: str = "cpu"

    def key(self, identity: dict | None = None) -> str:
        """What a checkpoint must agree on to be resumed: these settings, and ``identity``
        (what is trained, from which weights, on which images, by which teacher)."""
        fields = {k: v for k, v in asdict(self).items() if k not in _NOT_IN_KEY}
        text = json.dumps({"config": fields, "identity": identity or {}}, sort_keys=True,
                          default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def check(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise UsageError("epochs and batch size must be at least 1.")
        if not 0.0 <= self.kd_alpha <= 1.0:
            raise UsageError(f"--alpha must be within [0, 1], not {self.kd_alpha}.")
        if self.kd_temperature <= 0:
            raise UsageError(f"--temperature must be positive, not {self.kd_temperature}.")
        if self.lr <= 0 or self.min_lr < 0 or self.min_lr > self.lr:
            raise UsageError(f"Need 0 <= min_lr <= lr and lr > 0 (lr={self.lr}, "
                             f"min_lr={self.min_lr}).")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise UsageError(f"--label-smoothing must be within [0, 1), not "
                             f"{self.label_smoothing}.")
        if self.weight_decay < 0 or self.warmup_epochs < 0:
            raise UsageError("--weight-decay and --warmup-epochs cannot be negative.")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise UsageError(f"grad_clip must be positive (or None), not {self.grad_clip}.")
        self.torch_device()

    def torch_device(self):
        """The torch device, or a UsageError naming what is wrong with it."""
        import torch

        try:
            dev = torch.device(self.device)
        except (RuntimeError, ValueError) as exc:
            raise UsageError(f"Unknown torch device {self.device!r}: {exc}") from exc
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise UsageError(f"--device {self.device}: no CUDA device is available here.")
        if dev.type == "mps" and not torch.backends.mps.is_available():
            raise UsageError(f"--device {self.device}: MPS is not available here.")
        return dev


@dataclass
class EpochStats:
    epoch: int  # 1-based
    lr: float  # at the epoch's last step
    train_loss: float
    train_top1: float  # percent, on augmented batches, against the labels
    val_loss: float | None
    val_top1: float | None  # percent
    seconds: float  # wall time of the epoch's training steps (not the evaluation)
    images_per_second: float


@dataclass
class TrainResult:
    config: TrainConfig
    history: list[EpochStats] = field(default_factory=list)
    train_images: int = 0
    val_images: int = 0
    teacher_val_top1: float | None = None  # percent, when distilling
    val_top1: float | None = None  # percent, after the last epoch
    seconds: float = 0.0  # training steps, summed over every session that worked on it
    resumed_from_epoch: int | None = None
    environment: dict = field(default_factory=dict)

    @property
    def epochs_done(self) -> int:
        return len(self.history)


def lr_at(cfg: TrainConfig, step: int, total: int, per_epoch: int) -> float:
    """Linear warm-up then cosine towards ``min_lr``, which it reaches at step ``total`` (one
    past the last step taken); a function of the step alone, so resuming keeps it."""
    warm = int(cfg.warmup_epochs * per_epoch)
    if step < warm:
        return cfg.lr * (step + 1) / warm
    t = (step - warm) / max(1, total - warm)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1.0 + math.cos(math.pi * min(1.0, t)))


def _normalize(x, mean, std):
    import torch

    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return (x.float().div_(255.0) - m) / s


def batch_tensor(pixels: np.ndarray, idx, data: TrainData, augment: bool, gen):
    """Float NCHW batch, normalized exactly as timm's eval transform does (ToTensor +
    Normalize), optionally randomly cropped and flipped first."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(pixels[idx])).permute(0, 3, 1, 2)
    if augment:
        n, _, h, w = x.shape
        pad = max(1, min(h, w) // 8)
        padded = F.pad(x.float(), (pad, pad, pad, pad), mode="reflect")
        dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
        dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
        flip = torch.rand(n, generator=gen) < 0.5
        out = torch.empty(n, 3, h, w)
        for i in range(n):
            crop = padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
            out[i] = crop.flip(-1) if flip[i] else crop
        x = out
    return _normalize(x, data.mean, data.std)


def evaluate(model, data: TrainData, batch_size: int = 256) -> tuple[float, float]:
    """(top-1 percent, mean cross-entropy) of ``model`` in eval mode on ``data``."""
    import torch
    import torch.nn.functional as F

    dev = next(model.parameters()).device
    model.eval()
    correct, loss, n = 0, 0.0, len(data)
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            idx = np.arange(start, min(n, start + batch_size))
            logits = model(batch_tensor(data.pixels, idx, data, False, None).to(dev))
            y = torch.from_numpy(data.labels[idx]).to(dev)
            loss += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
    return 100.0 * correct / max(1, n), loss / max(1, n)


def _param_groups(model, weight_decay: float):
    skip = set(getattr(model, "no_weight_decay", lambda: set())())
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 or name in skip else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def _environment(cfg: TrainConfig) -> dict:
    import torch

    return {"torch": torch.__version__, "threads": torch.get_num_threads(),
            "device": cfg.device, "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(), "python": platform.python_version()}


def _save_checkpoint(path: Path, model, optimizer, key: str, result: TrainResult) -> None:
    import torch

    from ..files import atomic_path
    from ..serialization import to_dict

    with atomic_path(path) as tmp:  # a checkpoint is whole or absent, even after a kill
        # the global RNG too: dropout / drop-path draw from it, and resuming must not change
        torch.save({"key": key, "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(), "rng": torch.get_rng_state(),
                    "result": json.dumps(to_dict(result))}, tmp)


def _load_checkpoint(path: Path, key: str) -> dict:
    import torch

    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise UsageError(f"Cannot read checkpoint {path}: {type(exc).__name__}: {exc}",
                         hint="Delete it (or pass --restart) to start over.") from exc
    if not isinstance(state, dict) or state.get("key") != key:
        raise UsageError(f"{path} was written with other training settings, another model, "
                         "other starting weights, other data or another teacher.",
                         hint="Use the same settings to resume, --restart to start over, or "
                              "another --out.")
    return state


def _resume(state: dict, path: Path, model, optimizer) -> None:
    import torch

    try:
        model.load_state_dict(state["model"], strict=True)
        optimizer.load_state_dict(state["optimizer"])
        if isinstance(state.get("rng"), torch.Tensor):
            torch.set_rng_state(state["rng"])
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        raise UsageError(f"{path} does not fit this model: {str(exc).splitlines()[0][:200]}",
                         hint="--restart to start over, or another --out.") from exc


def train(model, train_data: TrainData, val_data: TrainData | None, cfg: TrainConfig,
          out_dir: Path, *, teacher=None, restart: bool = False,
          progress: Callable[[str], None] | None = None, show_bar: bool = False,
          identity: dict | None = None) -> TrainResult:
    """Train ``model`` in place for ``cfg.epochs`` epochs (resuming from ``out_dir``'s
    checkpoint unless ``restart``); evaluates on ``val_data`` after every epoch.
    ``identity`` (model, starting weights, teacher) joins the settings and the training
    images' fingerprint in what a checkpoint must match to be resumed."""
    import torch
    import torch.nn.functional as F

    from ..serialization import from_dict

    cfg.check()
    say = progress or log.info
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt = out_dir / CHECKPOINT
    n = len(train_data)
    if n < 1:
        raise UsageError("No training images.")
    batch = min(cfg.batch_size, n)
    per_epoch = n // batch
    total = per_epoch * cfg.epochs
    key = cfg.key({**(identity or {}), "train_data": train_data.ref.fingerprint})
    dev = cfg.torch_device()
    model.to(dev)  # before the optimizer, so resumed optimizer state lands on the device
    optimizer = torch.optim.AdamW(_param_groups(model, cfg.weight_decay), lr=cfg.lr)
    result = TrainResult(config=cfg, train_images=n,
                         val_images=len(val_data) if val_data is not None else 0)
    if ckpt.exists() and not restart:
        state = _load_checkpoint(ckpt, key)  # tensors load on the CPU, then onto the device
        _resume(state, ckpt, model, optimizer)
        saved = from_dict(TrainResult, json.loads(state["result"]))
        result.history, result.seconds = saved.history, saved.seconds
        result.teacher_val_top1 = saved.teacher_val_top1
        result.resumed_from_epoch = saved.epochs_done
        if saved.config.epochs != cfg.epochs and saved.epochs_done:
            # the cosine schedule depends on the total: another total is another run
            raise UsageError(f"{ckpt} is of a {saved.config.epochs}-epoch run, not "
                             f"{cfg.epochs}.", hint="Pass the same --epochs, or --restart.")
        say(f"resuming from epoch {saved.epochs_done}/{cfg.epochs} ({ckpt})")
    result.environment = _environment(cfg)
    if teacher is not None:
        teacher.to(dev).eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        if val_data is not None and result.teacher_val_top1 is None:
            result.teacher_val_top1 = evaluate(teacher, val_data, cfg.eval_batch_size)[0]
            say(f"teacher: {result.teacher_val_top1:.2f} % top-1 on {len(val_data)} images")
    kd_t, alpha = cfg.kd_temperature, cfg.kd_alpha if teacher is not None else 0.0
    from ..progress import progress_bar

    for epoch in range(result.epochs_done, cfg.epochs):
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
        order = torch.randperm(n, generator=gen).numpy()
        model.train()
        seen = correct = 0
        loss_sum = 0.0
        t0 = time.perf_counter()
        lr = cfg.lr
        with progress_bar(show_bar, f"epoch {epoch + 1}/{cfg.epochs}", per_epoch,
                          fields={"loss": 0.0, "acc": 0.0},
                          show="loss {task.fields[loss]:.4f}  acc {task.fields[acc]:.1f} %") as advance:
            for s in range(per_epoch):
                step = epoch * per_epoch + s
                lr = lr_at(cfg, step, total, per_epoch)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                idx = np.sort(order[s * batch:(s + 1) * batch])
                x = batch_tensor(train_data.pixels, idx, train_data, cfg.augment, gen).to(dev)
                y = torch.from_numpy(train_data.labels[idx]).to(dev)
                logits = model(x)
                loss = F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing) \
                    if alpha < 1.0 else logits.new_zeros(())
                if alpha > 0.0:
                    with torch.no_grad():
                        soft = F.softmax(teacher(x) / kd_t, dim=1)
                    kd = F.kl_div(F.log_softmax(logits / kd_t, dim=1), soft,
                                  reduction="batchmean") * kd_t * kd_t
                    loss = alpha * kd + (1.0 - alpha) * loss
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                optimizer.step()
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise UsageError(f"Training diverged at epoch {epoch + 1}, step {s} "
                                     f"(loss {value}).", hint="Lower --lr.")
                seen += len(idx)
                loss_sum += value * len(idx)
                correct += int((logits.argmax(1) == y).sum())
                advance(1, loss=loss_sum / seen, acc=100.0 * correct / seen)
        seconds = time.perf_counter() - t0
        val_top1 = val_loss = None
        if val_data is not None:
            val_top1, val_loss = evaluate(model, val_data, cfg.eval_batch_size)
        stats = EpochStats(epoch=epoch + 1, lr=lr, train_loss=loss_sum / seen,
                           train_top1=100.0 * correct / seen, val_loss=val_loss,
                           val_top1=val_top1, seconds=round(seconds, 2),
                           images_per_second=round(seen / seconds, 1))
        result.history.append(stats)
        result.seconds = round(result.seconds + seconds, 2)
        result.val_top1 = val_top1
        _save_checkpoint(ckpt, model, optimizer, key, result)
        val = f", val top-1 {val_top1:.2f} %" if val_top1 is not None else ""
        say(f"epoch {epoch + 1}/{cfg.epochs}: loss {stats.train_loss:.4f}, train top-1 "
            f"{stats.train_top1:.2f} %{val}, lr {lr:.2e}, {seconds:.0f} s "
            f"({stats.images_per_second:.0f} img/s)")
    if result.history:
        result.val_top1 = result.history[-1].val_top1
    return result
