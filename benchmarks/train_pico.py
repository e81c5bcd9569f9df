"""Benchmark (not a test): the default MoE detector vs yolo-pico trained side by side on the default synthetic set.

    .venv/bin/python benchmarks/train_pico.py [--epochs 8] [--out runs/bench_pico] [--models esmoe-pico-shared yolo-pico]

Prints, per model: wall time of the training, mAP@0.5:0.95, mAP@0.5, AR@100 of best.pt (hard top-K)
overall and per scene regime, params / active GFLOPs, and for MoE models the expert usage per regime
with the specialisation (total-variation distance between the regimes' expert shares). The target
on a 2-core CPU: the default model (``esmoe-pico-shared``) reaches mAP@0.5 >= 0.5 within 10 minutes of training.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from edge_moe.models import create_model
from edge_moe.models.complexity import measure
from edge_moe.trainers import PICO_10MIN as SCHEDULE  # shared by both models: a like-for-like comparison
from edge_moe.trainers import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=SCHEDULE.epochs)
    parser.add_argument("--out", type=Path, default=Path("runs/bench_pico"))
    parser.add_argument("--models", nargs="+", default=[SCHEDULE.model, "yolo-pico"])
    parser.add_argument("--threads", type=int, default=SCHEDULE.threads, help="torch threads (1 is fastest on a busy 2-core box)")
    args = parser.parse_args()
    rows = []
    for name in args.models:
        started = time.perf_counter()
        result = train(SCHEDULE, model=name, epochs=args.epochs, threads=args.threads, out=args.out / name, progress=False)
        wall = time.perf_counter() - started
        cost = measure(create_model(name, num_classes=3, imgsz=SCHEDULE.imgsz), SCHEDULE.imgsz)
        elapsed, reached = 0.0, None
        for row in result.history:  # first epoch whose validation reached mAP@0.5 >= 0.5
            elapsed += row["seconds"]
            if reached is None and row["map50"] >= 0.5:
                reached = (row["epoch"], elapsed)
        rows.append({"model": name, "wall_s": wall, "reached_050": reached, "params_m": cost.params / 1e6, "active_gflops": cost.active_flops / 1e9, **result.metrics})
    print(f"\n{'model':<11} {'train s':>8} {'params':>7} {'act GF':>7} {'mAP50-95':>9} {'mAP50':>7} {'AR100':>7} {'mAP50 few-large':>16} {'mAP50 many-small':>17} {'ms/img':>7}")
    for r in rows:
        regimes = r["by_regime"]
        print(
            f"{r['model']:<11} {r['wall_s']:8.0f} {r['params_m']:6.2f}M {r['active_gflops']:7.3f} {r['map50_95']:9.4f} {r['map50']:7.4f} {r['ar100']:7.4f}"
            f" {regimes['few-large']['map50']:16.4f} {regimes['many-small']['map50']:17.4f} {r['ms_per_image']:7.1f}"
        )
    for r in rows:
        if not r["expert_usage"]:
            continue
        print(f"\nexpert usage of {r['model']} (share of top-K slots, val, hard top-K):")
        for regime, usages in r["expert_usage_by_regime"].items():
            for u in usages:
                print(f"  {regime:<11} {u['layer']:<18} " + " ".join(f"e{e}:{s:5.1%}" for e, s in enumerate(u["share"])))
        print("  specialisation (TV distance between regimes, 0 = same experts, 1 = disjoint): " + json.dumps(r["specialisation"]))
        print("  mean router entropy (1 = uniform, warned at >= 0.97): " + json.dumps({u["layer"]: u["router_entropy"] for u in r["expert_usage"]}))
        print("  routing warnings: " + (json.dumps(r["routing_warnings"]) if r["routing_warnings"] else "none"))
    esmoe = next((r for r in rows if r["model"] == SCHEDULE.model), None)
    if esmoe is not None:
        reached = esmoe["reached_050"]
        verdict = "PASS" if reached is not None and reached[1] <= 600 else "FAIL"
        when = f"first at epoch {reached[0]} after {reached[1]:.0f} s" if reached else "never"
        print(f"\ntarget {SCHEDULE.model} mAP@0.5 >= 0.5 within 600 s: {verdict} ({when}; final mAP@0.5 {esmoe['map50']:.3f}, whole run {esmoe['wall_s']:.0f} s)")
    (args.out / "summary.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
