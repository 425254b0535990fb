"""What to prune: the :class:`PruningPlan` dataclass and its two text forms.

CLI form (:func:`parse_plan`)::

    heads=0.34,mlp=0.5,depth=0.25

Comma-separated ``key=value`` pairs, any subset of ``heads``, ``mlp``, ``depth`` (uniform
ratios), plus optionally ``round_to=8``, ``criterion=taylor`` and ``allocate=global``.
``global=0.5`` is short for ``heads=0.5,mlp=0.5,allocate=global``.

Plan file (:func:`load_plan_file`), JSON (``.json``) or YAML (anything else)::

    {"round_to": 8, "criterion": "magnitude",
     "heads": 0.34, "mlp": 0.5, "depth": 0.0,
     "drop_blocks": [10, 11],
     "blocks": {"0": {"heads": 2, "mlp": 384},
                "3": {"keep_heads": [0, 2]},
                "5": {"mlp": 0.5}}}

Every key is optional. Meaning of each value:

* ``heads`` / ``mlp`` / ``depth`` at the top: the fraction of units REMOVED from every block
  (``depth``: of all blocks), a number in [0, 1). ``n`` units with ratio ``r`` keep
  ``n - floor(n*r + 0.5)`` units (round half up, so 0.5 of 3 heads keeps 1), never fewer than 1.
  MLP widths reached by a ratio are then rounded to the nearest multiple of ``round_to``
  (never to 0, never above the original width). ``round_to: 1`` turns that off.
* ``drop_blocks``: original indices (0-based) of blocks removed whole.
  ``depth`` then removes further blocks, lowest importance first, until
  ``floor(depth*n + 0.5)`` blocks are gone in total; blocks named in ``blocks`` are never
  chosen by ``depth``.
* ``blocks``: per-block overrides keyed by original block index (string or int key). Inside:
  ``heads`` / ``mlp`` is a number: below 1 it is a ratio removed (as above, 0 = keep all);
  a whole number >= 1 is the COUNT KEPT, used as given (a warning if an MLP width is not a
  multiple of ``round_to``). ``keep_heads`` / ``keep_mlp`` are explicit lists of the original
  head / channel indices to keep; they exclude ``heads`` / ``mlp`` in the same block.
  A block override replaces the uniform ratio for that unit type in that block only.
* ``criterion``: how units are ranked when the plan says how many but not which:
  ``magnitude`` (weights only, the default), ``taylor`` or ``activation`` (need calibration
  images).
* ``allocate``: ``uniform`` (the default: every block loses the same share of its heads and
  MLP channels) or ``global``: the ``heads`` / ``mlp`` ratios apply to the model's heads and
  channels as a whole (the same count, hence the same MACs, as uniform, up to rounding), and
  which ones go is decided across blocks by importance, as Torch-Pruning's global /
  isomorphic pruning does. Each block's scores are divided by their mean first, so that
  blocks compete on how unequal their own units are, not on their scale; every block keeps at
  least one head and ``round_to`` channels; MLP widths are rounded per block. Blocks with a
  per-block override keep it and take no part.

Checking a plan against a model (block indices, counts) is done by ``validate_plan``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import PruningPlanError

CRITERIA = ("magnitude", "taylor", "activation")
DATA_DRIVEN = ("taylor", "activation")
_RATIO_KEYS = ("heads", "mlp", "depth")
ALLOCATIONS = ("uniform", "global")
_CLI_KEYS = (*_RATIO_KEYS, "round_to", "criterion", "allocate", "global")
_FILE_KEYS = (*_CLI_KEYS, "drop_blocks", "blocks", "budget")
_BLOCK_KEYS = ("heads", "mlp", "keep_heads", "keep_mlp")


def removed_count(n: int, ratio: float) -> int:
    """Units a ratio removes from ``n``: round half up (Python's round() rounds half to even)."""
    return math.floor(n * ratio + 0.5)


def _ratio(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise PruningPlanError(f"{what} must be a number in [0, 1), got {value!r}.")
    if not 0 <= value < 1:
        raise PruningPlanError(
            f"{what} = {value} is outside [0, 1): it is the fraction of units removed.",
            hint="Use e.g. 0.5 to remove half; 1 would remove everything.")
    return float(value)


def _amount(value: Any, what: str) -> float | int:
    """A per-block amount: ratio removed (< 1) or whole count kept (>= 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise PruningPlanError(f"{what} must be a number, got {value!r}.")
    if value < 0:
        raise PruningPlanError(f"{what} = {value} is negative.")
    if value < 1:
        return float(value)
    if value != int(value):
        raise PruningPlanError(
            f"{what} = {value} is neither a ratio below 1 nor a whole count to keep.")
    return int(value)


def _index_list(value: Any, what: str) -> list[int]:
    if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise PruningPlanError(f"{what} must be a list of integer indices, got {value!r}.")
    if len(set(value)) != len(value):
        raise PruningPlanError(f"{what} lists an index twice: {list(value)}.")
    if any(v < 0 for v in value):
        raise PruningPlanError(f"{what} has a negative index: {list(value)}.")
    return sorted(int(v) for v in value)


@dataclass
class BlockPlan:
    """Overrides for one block, by original block index. See the module docstring."""

    index: int
    heads: float | int | None = None  # float < 1: ratio removed; int >= 1: count kept
    mlp: float | int | None = None
    keep_heads: list[int] | None = None
    keep_mlp: list[int] | None = None

    def __post_init__(self) -> None:
        where = f"blocks[{self.index}]"
        if isinstance(self.index, bool) or not isinstance(self.index, int) or self.index < 0:
            raise PruningPlanError(f"Block index {self.index!r} is not a non-negative integer.")
        for unit in ("heads", "mlp"):
            amount, keep = getattr(self, unit), getattr(self, f"keep_{unit}")
            if amount is not None and keep is not None:
                raise PruningPlanError(
                    f"{where} gives both '{unit}' and 'keep_{unit}'; use one of them.")
            if amount is not None:
                setattr(self, unit, _amount(amount, f"{where}.{unit}"))
            if keep is not None:
                setattr(self, f"keep_{unit}", _index_list(keep, f"{where}.keep_{unit}"))


@dataclass
class PruningPlan:
    """Uniform ratios, per-block overrides and explicit block drops. See the module docstring."""

    heads: float = 0.0
    mlp: float = 0.0
    depth: float = 0.0
    blocks: list[BlockPlan] = field(default_factory=list)
    drop_blocks: list[int] = field(default_factory=list)
    round_to: int = 8
    criterion: str = "magnitude"
    allocate: str = "uniform"
    # a plan made by pruning to a latency budget (edge_vit.lut.budget): the budget, the
    # device, runtime and table it was allocated against, the predicted latency
    budget: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        for key in _RATIO_KEYS:
            setattr(self, key, _ratio(getattr(self, key), key))
        if self.allocate not in ALLOCATIONS:
            raise PruningPlanError(
                f"Unknown allocate {self.allocate!r}; choose one of {', '.join(ALLOCATIONS)}.")
        if isinstance(self.round_to, bool) or not isinstance(self.round_to, int) \
                or self.round_to < 1:
            raise PruningPlanError(f"round_to must be an integer >= 1, got {self.round_to!r}.")
        if self.criterion not in CRITERIA:
            raise PruningPlanError(
                f"Unknown criterion {self.criterion!r}; choose one of {', '.join(CRITERIA)}.")
        self.drop_blocks = _index_list(self.drop_blocks, "drop_blocks")
        indices = [b.index for b in self.blocks]
        if len(set(indices)) != len(indices):
            raise PruningPlanError(f"Block overrides repeat an index: {indices}.")
        self.blocks = sorted(self.blocks, key=lambda b: b.index)

    def block(self, index: int) -> BlockPlan | None:
        return next((b for b in self.blocks if b.index == index), None)

    @property
    def data_driven(self) -> bool:
        return self.criterion in DATA_DRIVEN


def parse_plan(text: str) -> PruningPlan:
    """Parse the CLI form ``"heads=0.34,mlp=0.5,depth=0.25"``."""
    items = [p.strip() for p in str(text).split(",") if p.strip()]
    if not items:
        raise PruningPlanError("Empty pruning plan.",
                               hint="Example: --prune heads=0.34,mlp=0.5,depth=0.25")
    values: dict[str, Any] = {}
    for item in items:
        key, sep, raw = (s.strip() for s in item.partition("="))
        if not sep or not key or not raw:
            raise PruningPlanError(f"Cannot read '{item}' in plan '{text}': expected key=value.")
        if key not in _CLI_KEYS:
            raise PruningPlanError(f"Unknown plan key '{key}' in '{text}'.",
                                   hint=f"Known keys: {', '.join(_CLI_KEYS)}.")
        if key in values:
            raise PruningPlanError(f"Plan key '{key}' is given twice in '{text}'.")
        if key in ("criterion", "allocate"):
            values[key] = raw
            continue
        try:
            values[key] = int(raw) if key == "round_to" else float(raw)
        except ValueError:
            raise PruningPlanError(f"{key}={raw!r} is not a number (in plan '{text}').") \
                from None
    return PruningPlan(**_expand_global(values, f"plan '{text}'"))


def _expand_global(values: dict[str, Any], origin: str) -> dict[str, Any]:
    """``global=r``: heads=r, mlp=r, allocated across blocks by importance."""
    if "global" not in values:
        return values
    values = dict(values)
    share = values.pop("global")
    clash = sorted({"heads", "mlp", "allocate"} & set(values))
    if clash:
        raise PruningPlanError(f"global={share} sets heads, mlp and allocate; do not also give "
                               f"{', '.join(clash)} (in {origin}).")
    return {**values, "heads": share, "mlp": share, "allocate": "global"}


def plan_from_mapping(data: Any, origin: str = "plan") -> PruningPlan:
    """Build a plan from the file format (a dict as read from JSON/YAML)."""
    if not isinstance(data, dict):
        raise PruningPlanError(f"{origin}: expected a mapping at the top, got {type(data).__name__}.")
    unknown = sorted(set(map(str, data)) - set(_FILE_KEYS))
    if unknown:
        raise PruningPlanError(f"{origin}: unknown key(s) {unknown}.",
                               hint=f"Known keys: {', '.join(_FILE_KEYS)}.")
    raw_blocks = data.get("blocks") or {}
    if isinstance(raw_blocks, list):  # the serialized form: a list of {"index": i, ...}
        raw_blocks = {b.get("index") if isinstance(b, dict) else None: b for b in raw_blocks}
    if not isinstance(raw_blocks, dict):
        raise PruningPlanError(f"{origin}: 'blocks' must map block index to overrides.")
    blocks = []
    for key, entry in raw_blocks.items():
        try:
            index = int(key)
        except (TypeError, ValueError):
            raise PruningPlanError(f"{origin}: block key {key!r} is not an integer index.") \
                from None
        if not isinstance(entry, dict):
            raise PruningPlanError(f"{origin}: blocks[{key}] must be a mapping, got {entry!r}.")
        entry = {k: v for k, v in entry.items() if k != "index"}
        bad = sorted(set(map(str, entry)) - set(_BLOCK_KEYS))
        if bad:
            raise PruningPlanError(f"{origin}: blocks[{key}] has unknown key(s) {bad}.",
                                   hint=f"Known block keys: {', '.join(_BLOCK_KEYS)}.")
        blocks.append(BlockPlan(index=index, **entry))
    top = {k: v for k, v in data.items() if k in _CLI_KEYS or k == "drop_blocks"}
    budget = data.get("budget")
    if budget is not None and not isinstance(budget, dict):
        raise PruningPlanError(f"{origin}: 'budget' must be a mapping, got {budget!r}.")
    return PruningPlan(blocks=blocks, budget=budget, **_expand_global(top, origin))


def load_plan_file(path: str | Path) -> PruningPlan:
    """Read a per-layer plan from JSON (``.json``) or YAML (any other suffix)."""
    path = Path(path)
    if not path.is_file():
        raise PruningPlanError(f"Plan file not found: {path}")
    text = path.read_text()
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # json.JSONDecodeError / yaml.YAMLError
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PruningPlanError(f"Cannot parse plan file {path}: {first}") from exc
    return plan_from_mapping(data, origin=str(path))


def read_plan(arg: str | Path) -> PruningPlan:
    """A CLI argument that is either a plan file path or the ``key=value`` form."""
    text = str(arg)
    if "=" not in text or Path(text).suffix.lower() in (".json", ".yaml", ".yml"):
        return load_plan_file(text)
    return parse_plan(text)
