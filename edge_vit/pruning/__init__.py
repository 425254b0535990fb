"""Structural pruning of timm ViT/DeiT/ResMLP models: heads, MLP channels, whole blocks.

    plan = parse_plan("heads=0.34,mlp=0.5,depth=0.25")    # or load_plan_file("plan.yaml")
    warnings = validate_plan(plan, model)                  # PruningPlanError before any work
    pruned, spec, warnings = prune_model(model, plan, calib=None, source=model_source)
    save_pruned(pruned, spec, "out/pruned")                # prune_spec.json + model.safetensors
    model, spec = load_pruned("out/pruned")                # rebuilt, never unpickled
"""

from .apply import plan_spec, prune_model
from .equivalence import zero_pruned_units
from .importance import (
    Importance,
    activation_importance,
    compute_importance,
    magnitude_importance,
    taylor_importance,
)
from .layout import BlockInfo, describe_blocks
from .plan import (
    CRITERIA,
    BlockPlan,
    PruningPlan,
    load_plan_file,
    parse_plan,
    plan_from_mapping,
    read_plan,
)
from .spec import (
    SCHEMA_VERSION,
    SPEC_FILE,
    WEIGHTS_FILE,
    BlockSpec,
    PruneSpec,
    apply_spec,
    load_pruned,
    read_spec,
    save_pruned,
)
from .validate import validate_plan

__all__ = [
    "CRITERIA", "SCHEMA_VERSION", "SPEC_FILE", "WEIGHTS_FILE",
    "BlockInfo", "BlockPlan", "BlockSpec", "Importance", "PruneSpec", "PruningPlan",
    "activation_importance", "apply_spec", "compute_importance", "describe_blocks",
    "load_plan_file", "load_pruned", "magnitude_importance", "parse_plan", "plan_from_mapping",
    "plan_spec", "prune_model", "read_plan", "read_spec", "save_pruned", "taylor_importance",
    "validate_plan", "zero_pruned_units",
]
