"""Pruning to a latency budget on the local device: the table's cost and error, and what the
budget-aware allocation buys over uniform pruning at the same latency.

1. deit_tiny (random init, 224x224; latency does not depend on weights) and the demo model:
   the latency table built afresh (``lut build --rebuild``), its build time, then its
   held-out error (``lut check``: 6 random non-uniform variants in a session of their own),
   raw and with the device's drift between the two sessions taken out.
2. The demo model, budgets 0.5x and 0.7x its unpruned p50 measured just before: the
   budget-pruned variant (greedy latency-aware allocation, the table scaled to the device's
   speed now, as ``prune --budget-ms`` does) and a grid of uniform plans (heads x MLP shares,
   and a third of the blocks dropped) are all measured together in ONE interleaved session
   with the unpruned model. For each budget two uniform rivals are taken from that session:
   "nearest" is the fastest uniform variant no by_speed than the budget-pruned one (the budget
   variant is at equal or lower latency), "under budget" the slowest uniform variant whose
   p50 is within the budget (what a user shipping from a uniform grid would pick). Each
   gets the same 2-epoch distillation from the unpruned model (``edge-vit finetune``'s recipe,
   pruning_quality.py's loop) and its top-1 on the 2,000-image test slice, differences paired
   per image with their standard error.

    .venv/bin/python benchmarks/budget_pruning.py [--runtime onnxruntime] [--epochs 2]
        [--skip-deit] [--criterion taylor]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

UNIFORM = [f"heads={h},mlp={m}" for h in (0, 0.25, 0.5, 0.75) for m in (0, 0.25, 0.5, 0.75)
           if (h, m) != (0, 0)] + [f"heads={h},mlp={m},depth=0.34" for h in (0, 0.5)
                                   for m in (0, 0.5)]


def table_and_error(device, req, settings, work: Path, say) -> dict:
    from edge_vit.lut.build import build_table, check_table

    t0 = time.perf_counter()
    table, path = build_table(device, req, settings, work / "build", rebuild=True,
                              progress=say)
    built = time.perf_counter() - t0
    t0 = time.perf_counter()
    checks = check_table(device, table, path, settings, work / "check", progress=say)
    return {"table": table, "path": path, "build_s": built,
            "check_s": time.perf_counter() - t0, "checks": checks}


def print_tables(rows: dict) -> None:
    print(f"{'model':<26} {'build s':>8} {'check s':>8} {'method':<12} {'median %':>9} "
          f"{'p90 %':>7} {'drift %':>8} {'corr. median %':>15} {'corr. p90 %':>12}")
    for name, r in rows.items():
        for v in r["checks"]:
            print(f"{name:<26} {r['build_s']:>8.0f} {r['check_s']:>8.0f} {v.method:<12} "
                  f"{v.median_abs_error_pct:>9.1f} {v.p90_abs_error_pct:>7.1f} "
                  f"{v.drift_pct:>+8.1f} {v.drift_corrected_median_abs_error_pct:>15.1f} "
                  f"{v.drift_corrected_p90_abs_error_pct:>12.1f}")
        t = r["table"]
        print(f"{'':<26} unpruned p50 {t.reference_ms():.3f} ms in the table's session; "
              f"preferred model: {t.preferred}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runtime", default="onnxruntime")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--criterion", default="taylor",
                    help="importance of heads, channels, blocks (both kinds of pruning)")
    ap.add_argument("--skip-deit", action="store_true")
    ap.add_argument("--work", type=Path, help="default: a temporary folder")
    args = ap.parse_args()

    import torch
    from pruning_quality import correct, distil, paired, test_set

    from devices import get_device_config, open_device
    from edge_vit import demo
    from edge_vit.lut.budget import auto_margin, budget_plan
    from edge_vit.lut.build import TableRequest, export_variant, measure_session
    from edge_vit.model_options import ModelOptions, load_source_model
    from edge_vit.profiling import ProfileSettings

    torch.set_num_threads(2)
    tmp = tempfile.TemporaryDirectory()
    work = args.work or Path(tmp.name)

    def say(m: str) -> None:
        print(f"  {m}", file=sys.stderr)

    settings = ProfileSettings()
    tables = {}
    with open_device(get_device_config("local")) as device:
        if not args.skip_deit:
            tables["deit_tiny_patch16_224"] = table_and_error(
                device, TableRequest("deit_tiny_patch16_224", {}, args.runtime), settings,
                work / "deit", say)
        tables[demo.DEMO_MODEL] = table_and_error(
            device, TableRequest(demo.DEMO_MODEL, {}, args.runtime), settings, work / "demo",
            say)
        table = tables[demo.DEMO_MODEL]["table"]
        req = TableRequest(demo.DEMO_MODEL, {}, args.runtime)
        opts = ModelOptions(name=demo.DEMO_MODEL, criterion=args.criterion,
                            calib_dir=demo.TRAIN_SLICE)
        grid = work / "grid"
        unpruned = export_variant(ModelOptions(name=demo.DEMO_MODEL), "unpruned", req,
                                  grid).manifest_path.parent
        anchor = measure_session(device, [unpruned], req, settings, grid / "anchor", say)
        full_ms = anchor["unpruned"].latency.p50
        scale = full_ms / table.reference_ms()
        folders, plans = [unpruned], {}
        for share in (0.5, 0.7):
            alloc, plan = budget_plan(opts, table, share * full_ms, "p50",
                                      grid / f"budget-{share}.json", scale,
                                      margin=auto_margin(table, "p50"))
            folders.append(export_variant(ModelOptions(
                name=demo.DEMO_MODEL, prune=str(plan), criterion=args.criterion,
                calib_dir=demo.TRAIN_SLICE), f"budget-{share}x", req, grid).manifest_path.parent)
            plans[f"budget-{share}x"] = (share * full_ms, alloc.predicted_ms, str(plan))
        for i, plan in enumerate(UNIFORM):  # the same importance criterion as the budget
            folders.append(export_variant(ModelOptions(
                name=demo.DEMO_MODEL, prune=plan, criterion=args.criterion,
                calib_dir=demo.TRAIN_SLICE), f"uniform-{i}", req, grid).manifest_path.parent)
        # every variant, the unpruned model included, in one interleaved session
        got = measure_session(device, folders, req, settings, grid / "results", say)

    lat = {k: r.latency for k, r in got.items() if r.latency is not None}
    base, *_ = load_source_model(ModelOptions(name=demo.DEMO_MODEL))
    x, y = test_set(base)
    cache: dict[str, tuple] = {}

    def scored(model_id: str):
        if model_id not in cache:
            net = _pruned_from(model_id, plans, UNIFORM, args.criterion)
            before = correct(net, x, y)
            after = correct(distil(net, base, args.epochs)[0], x, y) if args.epochs else before
            cache[model_id] = (before, after, net)
            say(f"scored {model_id}")
        return cache[model_id]

    ref = lat["unpruned"].p50
    print(f"# local device, {args.runtime} fp32; criterion {args.criterion}; "
          f"{args.epochs}-epoch distillation; test slice {len(y)} images")
    print("\nlatency tables (held-out: 6 random non-uniform variants, a session of their own)")
    print_tables(tables)
    print(f"\ndemo model budgets (unpruned p50 {full_ms:.3f} ms just before allocating, "
          f"{ref:.3f} ms in the comparison session; table scaled by {scale:.3f}; aiming "
          f"{100 * auto_margin(table, 'p50'):.1f} % below each budget: the table's held-out "
          "p90 error)")
    for key, (budget, predicted, _plan) in plans.items():
        mine = lat[key]
        by_speed = sorted((lat[f"uniform-{i}"].p50, i) for i in range(len(UNIFORM))
                         if f"uniform-{i}" in lat)
        nearest = next(((t, i) for t, i in by_speed if t >= mine.p50), None)
        under = [(t, i) for t, i in by_speed if t <= budget]
        rivals = [("nearest", nearest), ("under budget", under[-1] if under else None)]
        share = budget / full_ms
        print(f"\n{key}: budget {budget:.3f} ms; predicted {predicted:.3f}; measured p50 "
              f"{mine.p50:.3f} ms [{mine.p50_ci[0]:.3f}, {mine.p50_ci[1]:.3f}] -> "
              f"{'MET' if mine.p50 <= budget else 'MISSED'}; relative to the unpruned model "
              f"beside it {mine.p50 / ref:.3f} vs budget {share:.3f} -> "
              f"{'MET' if mine.p50 / ref <= share else 'MISSED'}")
        b_before, b_after, net = scored(key)
        print(f"  {'variant':<40} {'p50 ms':>7} {'top-1 before':>13} {'after':>7} "
              f"{'budget - it (after)':>20} {'SE':>5}")
        print(f"  {'budget-pruned ' + _blocks(net):<40} {mine.p50:>7.3f} "
              f"{100 * b_before.mean():>13.2f} {100 * b_after.mean():>7.2f}")
        for label, pick in rivals:
            if pick is None:
                print(f"  {label}: no uniform variant")
                continue
            t, i = pick
            u_before, u_after, _ = scored(f"uniform-{i}")
            d, se = paired(b_after, u_after)
            print(f"  {label + ': ' + UNIFORM[i]:<40} {t:>7.3f} {100 * u_before.mean():>13.2f} "
                  f"{100 * u_after.mean():>7.2f} {d:>+20.2f} {se:>5.2f}")
    print("\nA top-1 difference within about 2 SE is noise, not a win. Latency: p50 with its "
          "95 % interval, all variants in one interleaved session.")


def _pruned_from(model_id: str, plans: dict, uniform: list[str], criterion: str):
    from edge_vit import demo
    from edge_vit.model_options import ModelOptions, load_source_model

    if model_id in plans:
        return load_source_model(ModelOptions(name=demo.DEMO_MODEL, prune=plans[model_id][2],
                                              criterion=criterion,
                                              calib_dir=demo.TRAIN_SLICE))[0]
    plan = None if model_id == "unpruned" else uniform[int(model_id.split("-")[1])]
    return load_source_model(ModelOptions(name=demo.DEMO_MODEL, prune=plan, criterion=criterion,
                                          calib_dir=demo.TRAIN_SLICE if plan else None))[0]


def _blocks(net) -> str:
    return "(" + " ".join(f"{b.attn.num_heads}h/{b.mlp.fc1.out_features}"
                          for b in net.blocks) + ")"


if __name__ == "__main__":
    main()
