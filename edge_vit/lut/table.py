"""The latency table: what was measured, and the additive model fitted to it.

A configuration is, per original block, ``[heads kept, MLP width kept]`` or ``None`` (block
dropped). Every block of a plain ViT sees the same tokens, so the model is

    T = F + sum over kept blocks of (B + dA(heads) + dM(width))

``F`` the fixed parts (patch embedding, final norm, head, the runtime's per-run cost), ``B``
one unpruned block, ``dA`` / ``dM`` what fewer heads / a narrower MLP change in one block,
piecewise linear between the measured counts (0 at the unpruned count; extrapolated linearly
past the smallest measured). All of it is fitted by least squares to whole-model p50s (or
p90s) of the sampled variants, each measured in one interleaved profile session; with the
default sampling plan the fit is exact, more measurements average. That heads and width
combine additively is an assumption: held-out variants in a separate session measure how
well it holds (``validation``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import UsageError

LUT_SCHEMA_VERSION = "1.0"
Config = list  # per original block: [heads, mlp] or None


@dataclass
class Structure:
    depth: int
    heads: int
    mlp: int
    round_to: int = 8

    def full(self) -> Config:
        return [[self.heads, self.mlp] for _ in range(self.depth)]


@dataclass
class Measurement:
    variant: str
    config: list  # Config
    p50_ms: float
    p90_ms: float | None = None
    p50_ci: list[float] | None = None
    noisy: bool = False
    sha256: str | None = None


@dataclass
class HeldOut:
    variant: str
    config: list
    predicted_ms: float
    measured_ms: float
    measured_ci: list[float] | None = None

    @property
    def error_pct(self) -> float:
        return 100.0 * (self.predicted_ms - self.measured_ms) / self.measured_ms


@dataclass
class Validation:
    metric: str
    session: str | None
    method: str = "whole-model"
    variants: list[HeldOut] = field(default_factory=list)
    median_abs_error_pct: float | None = None
    p90_abs_error_pct: float | None = None
    # the unpruned model, measured again in the held-out session: how far the device's speed
    # moved since the table's session, and the errors once predictions are scaled by it
    reference_ms: float | None = None
    table_reference_ms: float | None = None
    drift_pct: float | None = None
    drift_corrected_median_abs_error_pct: float | None = None
    drift_corrected_p90_abs_error_pct: float | None = None


@dataclass
class LatencyTable:
    model: str
    model_kwargs: dict
    input_shape: list[int]
    format: str
    precision: str
    runtime: str
    fingerprint: dict
    fingerprint_key: str
    structure: Structure
    measurements: list[Measurement] = field(default_factory=list)
    method: str = "whole-model p50 of sampled uniform variants, additive per-block fit"
    device_name: str | None = None  # where it was built (informational: not in the key)
    environment: dict = field(default_factory=dict)
    session: str | None = None
    built: str | None = None
    build_seconds: float | None = None
    validation: list[Validation] = field(default_factory=list)
    # the other model: the unpruned model's per-layer breakdown (edge_vit.lut.layered)
    layer_model: dict | None = None
    # which model predicts: "whole-model" until held-out variants show "layers" does better
    preferred: str = "whole-model"
    notes: list[str] = field(default_factory=list)
    schema_version: str = LUT_SCHEMA_VERSION

    def fit(self, metric: str = "p50", method: str | None = None) -> Fitted:
        if method is None:  # the layered model predicts p50 only
            method = self.preferred if metric == "p50" else "whole-model"
        if method == "layers":
            from .layered import fitted_from_layers

            if self.layer_model is None or metric != "p50":
                raise UsageError("This table has no per-layer model (or only for p50).")
            return fitted_from_layers(self.layer_model, self.structure, metric)
        return Fitted.of(self, metric)

    def predict(self, config: Config, metric: str = "p50", method: str | None = None) -> float:
        return self.fit(metric, method).predict(config)

    def reference_ms(self, metric: str = "p50") -> float:
        """The unpruned model as the table's session measured it."""
        full = next(m for m in self.measurements if m.variant == "full")
        return full.p50_ms if metric == "p50" or full.p90_ms is None else full.p90_ms


def _weights(x: float, knots: list[int]) -> dict[int, float]:
    """Linear interpolation weights of ``x`` on ``knots`` (sorted; extrapolated past the
    ends along the nearest segment)."""
    if len(knots) == 1:
        return {knots[0]: 1.0}
    j = 0
    while j < len(knots) - 2 and x > knots[j + 1]:
        j += 1
    lo, hi = knots[j], knots[j + 1]
    t = (x - lo) / (hi - lo)
    return {lo: 1.0 - t, hi: t}


@dataclass
class Fitted:
    fixed_ms: float
    block_ms: float
    head_delta: dict[int, float]  # heads kept -> ms added to a block (0 at the full count)
    mlp_delta: dict[int, float]
    structure: Structure
    metric: str
    residuals_ms: list[float] = field(default_factory=list)

    @classmethod
    def of(cls, table: LatencyTable, metric: str) -> Fitted:
        import numpy as np

        s = table.structure
        rows = [(m.config, m.p50_ms if metric == "p50" else m.p90_ms) for m in table.measurements]
        rows = [(c, t) for c, t in rows if t is not None]
        hk = sorted({b[0] for c, _ in rows for b in c if b is not None} | {s.heads})
        mk = sorted({b[1] for c, _ in rows for b in c if b is not None} | {s.mlp})
        hfree = [k for k in hk if k != s.heads]
        mfree = [k for k in mk if k != s.mlp]
        design, target = [], []
        for config, t in rows:
            kept = [b for b in config if b is not None]
            row = [1.0, float(len(kept))] + [0.0] * (len(hfree) + len(mfree))
            for h, m in kept:
                for k, w in _weights(h, hk).items():
                    if k != s.heads:
                        row[2 + hfree.index(k)] += w
                for k, w in _weights(m, mk).items():
                    if k != s.mlp:
                        row[2 + len(hfree) + mfree.index(k)] += w
            design.append(row)
            target.append(t)
        a, y = np.array(design), np.array(target)
        if np.linalg.matrix_rank(a) < a.shape[1]:
            raise UsageError(f"The latency table of {table.model} cannot be fitted: its "
                             f"{len(rows)} measurements do not separate the fixed parts, the "
                             "blocks, heads and MLP widths.", hint="Rebuild it (lut build).")
        coef, *_ = np.linalg.lstsq(a, y, rcond=None)
        head = {s.heads: 0.0, **{k: float(coef[2 + i]) for i, k in enumerate(hfree)}}
        mlp = {s.mlp: 0.0, **{k: float(coef[2 + len(hfree) + i]) for i, k in enumerate(mfree)}}
        return cls(fixed_ms=float(coef[0]), block_ms=float(coef[1]), head_delta=head,
                   mlp_delta=mlp, structure=s, metric=metric,
                   residuals_ms=[float(r) for r in y - a @ coef])

    def block(self, heads: int, mlp: int) -> float:
        hk, mk = sorted(self.head_delta), sorted(self.mlp_delta)
        d = sum(w * self.head_delta[k] for k, w in _weights(heads, hk).items())
        d += sum(w * self.mlp_delta[k] for k, w in _weights(mlp, mk).items())
        return self.block_ms + d

    def predict(self, config: Config) -> float:
        s = self.structure
        if len(config) != s.depth:
            raise UsageError(f"A configuration of {len(config)} blocks does not fit a table of "
                             f"{s.depth}.")
        for b in config:
            if b is not None and not (1 <= b[0] <= s.heads and 1 <= b[1] <= s.mlp):
                raise UsageError(f"Block {b} is outside the table's model (heads 1..{s.heads},"
                                 f" MLP 1..{s.mlp}).")
        return self.fixed_ms + sum(self.block(h, m) for h, m in
                                   (b for b in config if b is not None))

    def scaled(self, factor: float) -> Fitted:
        """Every time times ``factor``: the table's prediction on a device running ``factor``
        times as slow as in the table's session (measured on the unpruned model)."""
        return Fitted(fixed_ms=self.fixed_ms * factor, block_ms=self.block_ms * factor,
                      head_delta={k: v * factor for k, v in self.head_delta.items()},
                      mlp_delta={k: v * factor for k, v in self.mlp_delta.items()},
                      structure=self.structure, metric=self.metric,
                      residuals_ms=[r * factor for r in self.residuals_ms])

    def floor_ms(self) -> float:
        """The smallest latency any configuration reaches: one block left, at its cheapest."""
        s = self.structure
        widths = range(s.round_to, s.mlp + 1, s.round_to) or [s.mlp]
        cheapest = min(self.block(h, m) for h in range(1, s.heads + 1) for m in widths)
        return self.fixed_ms + cheapest
