"""Benchmark (not a test): the routing remedies, each trained with one schedule on the synthetic and the digits set.

    .venv/bin/python benchmarks/routing_ablation.py [--schedule demo|pico] [--variants baseline gap+gmp ...]
        [--datasets synthetic digits] [--seeds N] [--out runs/routing_ablation] [--collect]

Per variant and dataset: mAP50-95 of best.pt (hard top-K), routing health at the end (warnings, mean
router entropy and dead experts per MoE layer), the total-variation distance between the two scene
regimes' expert shares per layer, and the epoch-by-epoch expert usage. ``yolo-pico`` (the dense twin)
and ``esmoe-pico-e8`` (the capacity preset) train on the same schedule. A finished run's result.json is
reused, so two processes can share the variants and a last call (same options) prints the whole table.
Writes ``OUT/SCHEDULE/ablation.json``, ``ablation.md`` (the tables of docs/routing.md) and ``ablation.png``.
With ``--seeds N`` every run is repeated with training seeds 0..N-1 (the data sets stay the same), and
``seeds.md`` gives each variant's mean and spread: one seed's difference between two variants says little
when seeds alone move mAP50-95 by as much.
"""
from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import replace
from pathlib import Path
from typing import Any

from edge_moe.metrics.routing import DEAD_SHARE
from edge_moe.checkpoint import model_from_checkpoint
from edge_moe.models.complexity import measure
from edge_moe.trainers import DEMO, PICO_10MIN, TrainConfig, train

SCHEDULES = {"demo": DEMO, "pico": PICO_10MIN}
# The digits set at each schedule's image counts (the synthetic set's are the schedule's own).
DIGITS = {"demo": "digits:n=1000,val=100", "pico": "digits:n=1000,val=200"}
PLAIN = {"router_input": "gap", "router_norm": False, "router_temperature": 1.0, "router_jitter": 0.0, "expert_dropout": 0.0, "bias_rate": 0.0,
         "bias_scores": "logits"}
# One always-on expert next to K=1 routed (DeepSeekMoE), the bias on standardised logits.
SHARED = {"bias_scores": "standardised", "shared_experts": 1, "top_k": 1}
# What "auto" chose for bias-balanced routers that standardise their logits until the tenth session (2026-11-24), when it
# became mi for them: the variants measured with such routers on "auto" before then pin it.
AUTO_BEFORE_MI = {"balance_loss": "none"}
# The default recipe since the tenth session: the MI loss, the colour jitter off for the last two epochs.
MI_CLOSE_HSV = {"balance_loss": "mi", "close_hsv": 2}
# The spectrum router input where GAP+GMP routing separates the regimes least (p2, p3: docs/routing.md), GAP+GMP in p4, p5.
SPECTRUM_P2P3 = {"router_inputs": ("spectrum", "spectrum", "gap+gmp", "gap+gmp")}
SPECTRUM_P2 = {"router_inputs": ("spectrum", "gap+gmp", "gap+gmp", "gap+gmp")}
ROUTED_K5 = {"kernel_sizes": (5,), "shared_kernel_sizes": (3,)}
SWITCH = {"balance_loss": "switch", "moe_coef": 0.2, "z_loss": 1e-3, "router_lr_mult": 10.0, "router_warmup": 0.0}
# variant -> (model, MoEConfig overrides, TrainConfig overrides). "baseline" is YOLO-Master's plain router.
VARIANTS: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "baseline": ("esmoe-pico", PLAIN, SWITCH),
    "gap+gmp": ("esmoe-pico", {**PLAIN, "router_input": "gap+gmp"}, SWITCH),
    "conv-input": ("esmoe-pico", {**PLAIN, "router_input": "conv"}, SWITCH),
    "router-norm": ("esmoe-pico", {**PLAIN, "router_norm": True}, SWITCH),
    "norm+T0.5": ("esmoe-pico", {**PLAIN, "router_norm": True, "router_temperature": 0.5}, SWITCH),
    "gap+gmp+T0.5+aux-free-0.05": ("esmoe-pico", {**PLAIN, "router_input": "gap+gmp", "router_temperature": 0.5, "bias_rate": 0.05},
                                   {**SWITCH, "balance_loss": "none"}),
    "gap+gmp+T0.5+aux-free+switch": ("esmoe-pico", {**PLAIN, "router_input": "gap+gmp", "router_temperature": 0.5, "bias_rate": 0.01},
                                     SWITCH),
    "gap+gmp+T0.5": ("esmoe-pico", {**PLAIN, "router_input": "gap+gmp", "router_temperature": 0.5}, SWITCH),
    "norm+T0.5+aux-free": ("esmoe-pico", {**PLAIN, "router_norm": True, "router_temperature": 0.5, "bias_rate": 0.01},
                           {**SWITCH, "balance_loss": "none"}),
    "temperature-0.5": ("esmoe-pico", {**PLAIN, "router_temperature": 0.5}, SWITCH),
    "jitter-0.3": ("esmoe-pico", {**PLAIN, "router_jitter": 0.3}, SWITCH),
    "expert-dropout-0.1": ("esmoe-pico", {**PLAIN, "expert_dropout": 0.1}, SWITCH),
    "cv2-balance": ("esmoe-pico", PLAIN, {**SWITCH, "balance_loss": "cv2"}),
    "aux-free-bias": ("esmoe-pico", {**PLAIN, "bias_rate": 0.01}, {**SWITCH, "balance_loss": "none"}),
    "z-loss-0.01": ("esmoe-pico", PLAIN, {**SWITCH, "z_loss": 0.01}),
    "router-lr-x1": ("esmoe-pico", PLAIN, {**SWITCH, "router_lr_mult": 1.0}),
    "gap+gmp+aux-free": ("esmoe-pico", {**PLAIN, "router_input": "gap+gmp", "bias_rate": 0.01}, {**SWITCH, "balance_loss": "none"}),
    "gap+gmp+T0.5+aux-free": ("esmoe-pico", {**PLAIN, "router_input": "gap+gmp", "router_temperature": 0.5, "bias_rate": 0.01},
                              {**SWITCH, "balance_loss": "none"}),
    "router-warmup-1": ("esmoe-pico", {"bias_scores": "logits"}, {"router_warmup": 1.0}),
    "router-warmup-2": ("esmoe-pico", {"bias_scores": "logits"}, {"router_warmup": 2.0}),
    "shared-init": ("esmoe-pico", {"bias_scores": "logits", "expert_init": "shared"}, {"router_warmup": 0.0}),
    "shared-init+warmup-1": ("esmoe-pico", {"bias_scores": "logits", "expert_init": "shared"}, {"router_warmup": 1.0}),
    "warmup-1+standardised-bias": ("esmoe-pico", {"bias_scores": "standardised"}, {"router_warmup": 1.0}),
    "weight-floor-0.25": ("esmoe-pico", {"bias_scores": "standardised", "weight_floor": 0.25}, {"router_warmup": 1.0}),
    "shared-expert": ("esmoe-pico", SHARED, {"router_warmup": 1.0}),  # the esmoe-pico-shared preset until 2026-11-24
    "shared-expert-e8": ("esmoe-pico-e8", SHARED, {"router_warmup": 1.0}),
    "mutual-information": ("esmoe-pico", {"bias_scores": "standardised"}, {"router_warmup": 1.0, "balance_loss": "mi"}),
    "shared-expert+mi": ("esmoe-pico", SHARED, {"router_warmup": 1.0, "balance_loss": "mi"}),
    "shared-expert+bias-0.05": ("esmoe-pico", {**SHARED, "bias_rate": 0.05}, {"router_warmup": 1.0}),
    "shared-expert+mi-no-bias": ("esmoe-pico", {**SHARED, "bias_rate": 0.0}, {"router_warmup": 1.0, "balance_loss": "mi"}),
    "shared-expert+mi-x5": ("esmoe-pico", SHARED, {"router_warmup": 1.0, "balance_loss": "mi", "moe_coef": 1.0}),
    "shared-expert+router-norm": ("esmoe-pico", {**SHARED, "router_norm": True}, {"router_warmup": 1.0}),
    "shared-expert+router-norm+T0.25": ("esmoe-pico", {**SHARED, "router_norm": True, "router_temperature": 0.25}, {"router_warmup": 1.0}),
    "shared-expert+T0.25": ("esmoe-pico", {**SHARED, "router_temperature": 0.25}, {"router_warmup": 1.0}),
    "shared-expert+logit-norm": ("esmoe-pico", {**SHARED, "router_logit_norm": True}, {**AUTO_BEFORE_MI, "router_warmup": 1.0, "z_loss": 1e-3}),
    # The z-loss is smallest for all-zero logits: on batch-standardised ones it pulls the router to uniform (z_loss None: 0 for them).
    "shared-expert+logit-norm-no-z": ("esmoe-pico", {**SHARED, "router_logit_norm": True},
                                      {**AUTO_BEFORE_MI, "router_warmup": 1.0, "z_loss": 0.0}),
    "shared-expert+logit-norm-no-z+T0.25": ("esmoe-pico", {**SHARED, "router_logit_norm": True, "router_temperature": 0.25},
                                            {**AUTO_BEFORE_MI, "router_warmup": 1.0, "z_loss": 0.0}),
    # = the esmoe-pico-shared preset, the default model since 2026-11-24
    "shared-expert+router-norm+logit-norm-no-z+T0.25": ("esmoe-pico", {**SHARED, "router_norm": True, "router_logit_norm": True,
                                                                    "router_temperature": 0.25},
                                                        {**AUTO_BEFORE_MI, "router_warmup": 1.0, "z_loss": 0.0}),
    "shared-expert-e8+router-norm+logit-norm-no-z+T0.25": ("esmoe-pico-e8", {**SHARED, "router_norm": True, "router_logit_norm": True,
                                                                           "router_temperature": 0.25},
                                                           {**AUTO_BEFORE_MI, "router_warmup": 1.0, "z_loss": 0.0}),
    # The default model (its routing as the zoo has it now) with the recipe before the tenth session: bias balancing alone
    "default": (TrainConfig().model, {}, AUTO_BEFORE_MI),
    "default+mi": (TrainConfig().model, {}, {"balance_loss": "mi"}),
    # The last two epochs without the colour jitter, whose colour-shifted images some MI-loss routers gave an expert of its own
    "default+mi+close-hsv": (TrainConfig().model, {}, MI_CLOSE_HSV),
    "default+close-hsv": (TrainConfig().model, {}, {**AUTO_BEFORE_MI, "close_hsv": 2}),
    # Routers that see the scale of the activity, not its colour (the HSV jitter moved GAP+GMP routing: docs/routing.md)
    "default+spectrum": (TrainConfig().model, {"router_input": "spectrum"}, AUTO_BEFORE_MI),
    "default+mi+spectrum": (TrainConfig().model, {"router_input": "spectrum"}, {"balance_loss": "mi"}),
    "default+gap+gmp+spectrum": (TrainConfig().model, {"router_input": "gap+gmp+spectrum"}, AUTO_BEFORE_MI),
    "default+mi+gap+gmp+spectrum": (TrainConfig().model, {"router_input": "gap+gmp+spectrum"}, {"balance_loss": "mi"}),
    "default+mi+spectrum-p2p3": (TrainConfig().model, SPECTRUM_P2P3, {"balance_loss": "mi"}),
    "default+mi+close-hsv+spectrum-p2p3": (TrainConfig().model, SPECTRUM_P2P3, MI_CLOSE_HSV),
    "default+mi+close-hsv+spectrum-p2": (TrainConfig().model, SPECTRUM_P2, MI_CLOSE_HSV),
    # Routers at the base learning rate: a steadier split of the images for the experts to fit (the default underfits its twin)
    "default+mi+close-hsv+router-lr-x1": (TrainConfig().model, {}, {**MI_CLOSE_HSV, "router_lr_mult": 1.0}),
    "default+mi+close-hsv+router-lr-x3": (TrainConfig().model, {}, {**MI_CLOSE_HSV, "router_lr_mult": 3.0}),
    # Fast routers for the demo's five epochs (the default there), the base rate from epoch 6: the split found early, then held
    "default+mi+close-hsv+router-settle-6": (TrainConfig().model, {}, {**MI_CLOSE_HSV, "router_lr_settle": 6}),
    # Every routed expert the twin's second branch (kernel 5), the shared one its first (kernel 3): the twin's active GFLOPs
    # exactly, and with E=8 the capacity preset the issue describes (experts as heavy as the dense block's, more of them)
    "default+mi+close-hsv+routed-k5": (TrainConfig().model, ROUTED_K5, MI_CLOSE_HSV),
    # Routers that read the features without training them: the MI loss and the routing weights shape the routers alone
    "default+mi+close-hsv+router-detach": (TrainConfig().model, {"router_detach": True}, MI_CLOSE_HSV),
    # Dense-to-sparse training for a fifth of the 25-epoch schedule: every routed expert learns from every image first
    "default+mi+close-hsv+warmup-5": (TrainConfig().model, {}, {**MI_CLOSE_HSV, "router_warmup": 5.0}),
    "default-e8+mi+close-hsv+routed-k5": (TrainConfig().model, {**ROUTED_K5, "experts": 8}, MI_CLOSE_HSV),
    # More parameters at the same compute: 8 bottleneck experts (hidden = channels / 4), one runs (+2.5 % active GFLOPs, 1.66x params)
    "capacity-bottleneck-e8": (TrainConfig().model, {"experts": 8, "top_k": 1, "shared_experts": 0, "expert_type": "bottleneck",
                                                     "expert_expansion": 0.25}, AUTO_BEFORE_MI),
    "esmoe-pico (K=2)": ("esmoe-pico", {}, {}),  # YOLO-Master's block, the default model until 2026-11-24
    "yolo-pico (dense twin)": ("yolo-pico", {}, {}),
    "yolo-pico+close-hsv (dense twin)": ("yolo-pico", {}, {"close_hsv": 2}),
    "esmoe-pico-e8 (capacity)": ("esmoe-pico-e8", {}, {}),
    # The capacity presets' upper bound: all 8 experts of esmoe-pico-e8 on every image (its parameters, +17 % active GFLOPs)
    "yolo-pico-e8-all (upper bound)": ("yolo-pico", {"experts": 8, "top_k": 8, "kernel_sizes": (3, 5)}, {}),
}


def run_folder(out: Path, dataset: str, variant: str, seed: int) -> Path:
    """Where one run lives; seed 0 keeps the folder single-seed runs always used."""
    folder = out / dataset / variant.split(" ")[0]
    return folder if seed == 0 else folder.with_name(f"{folder.name}@seed{seed}")


def run_variant(name: str, schedule: TrainConfig, data: str, out: Path) -> dict:
    """Trains one variant with ``schedule.seed`` (or reuses its finished result.json) and returns its row."""
    saved = out / "result.json"
    if saved.is_file():
        return json.loads(saved.read_text())
    model, moe_options, overrides = VARIANTS[name]
    overrides = {"close_hsv": 0, **overrides}  # the colour jitter to the last epoch, as before --close-hsv existed, unless the variant closes it
    config = replace(schedule, model=model, data=data, moe_options=dict(moe_options), **overrides)
    result = train(config, out=out, progress=False, exist_ok=True)
    metrics = result.metrics
    cost = measure(model_from_checkpoint(result.best_weights)[0], schedule.imgsz)
    row = {
        "variant": name, "data": data, "seed": schedule.seed, "model": model, "moe_options": moe_options, "train_options": overrides,
        "map50_95": metrics["map50_95"], "map50": metrics["map50"], "active_gflops": cost.active_flops / 1e9, "params_m": cost.params / 1e6,
        "warnings": metrics["routing_warnings"], "specialisation": metrics["specialisation"],
        "router_entropy": {u["layer"]: u["router_entropy"] for u in metrics["expert_usage"]},
        "dead_experts": {u["layer"]: [e for e, s in enumerate(u["share"]) if s < DEAD_SHARE] for u in metrics["expert_usage"]},
        "usage_by_epoch": [{k: v for k, v in h.items() if k.startswith(("usage:", "entropy:")) or k in ("epoch", "map50_95")}
                           for h in result.history],
    }
    saved.write_text(json.dumps(row, indent=1))
    return row


def format_row(row: dict) -> str:
    tv = row["specialisation"]
    entropy = row["router_entropy"]
    dead = sum(len(v) for v in row["dead_experts"].values()) if entropy else "-"
    health = "ok" if not row["warnings"] else f"{len(row['warnings'])} warnings"
    tv_text = f"{min(tv.values()):.4f}" if tv else "-"
    entropy_text = f"{sum(entropy.values()) / len(entropy):.2f}/{max(entropy.values()):.2f}" if entropy else "-"
    return f"{row['map50_95']:8.4f} {health:>11} {entropy_text:>9} {dead:>4} {tv_text:>7}"


def print_table(rows: dict[tuple[str, str], dict], variants: list[str], datasets: list[str]) -> None:
    head = "".join(f" | {d:^43}" for d in datasets)
    print(f"\n{'variant':<26}{head}")
    sub = " | mAP50-95      health  H mean/max dead   TV min" * len(datasets)
    print(f"{'':<26}{sub}")
    for v in variants:
        cells = "".join(f" | {format_row(rows[(v, d)])}" if (v, d) in rows else f" | {'(not run)':<43}" for d in datasets)
        print(f"{v:<26}{cells}")
    print("H: router entropy (1 = uniform; warned at >= 0.97); dead: experts with < 2 % of the top-K slots; "
          "TV: total-variation distance between the regimes' expert shares (smallest over layers)")
    print("\nepoch by epoch: the least-used expert's share of the top-K slots, smallest over layers (0 = a dead expert)")
    for (v, d), row in rows.items():
        if row["router_entropy"]:
            print(f"  {v:<26} {d:<10} " + " ".join(f"{x:4.0%}" for x in least_share_by_epoch(row)))
    for (v, d), row in rows.items():
        for warning in row["warnings"]:
            print(f"  {v} on {d}: {warning[:90]}")


def markdown_table(rows: dict[tuple[str, str], dict], variants: list[str], datasets: list[str]) -> str:
    """The docs/routing.md table: per variant and dataset, mAP50-95, warnings, router entropy per layer, dead experts, TV per layer."""
    lines = ["| variant | data | mAP50-95 | routing warnings | router entropy p2..p5 | dead experts | TV distance p2..p5 |",
             "|---|---|---:|---|---|---:|---|"]
    for v in variants:
        for d in datasets:
            row = rows.get((v, d))
            if row is None:
                continue
            entropy = " / ".join(f"{x:.2f}" for x in row["router_entropy"].values()) or "-"
            tv = " / ".join(f"{x:.4f}" for x in row["specialisation"].values()) or "-"  # as measured: 0.2995 is not 0.30
            dead = sum(len(x) for x in row["dead_experts"].values()) if row["router_entropy"] else "-"
            lines.append(f"| {v} | {d} | {row['map50_95']:.4f} | {len(row['warnings']) or 'none'} | {entropy} | {dead} | {tv} |")
    return "\n".join(lines) + "\n"


def seed_table(runs: dict[tuple[str, str], list[dict]], variants: list[str], datasets: list[str]) -> str:
    """Per variant and dataset over its seeds: mAP50-95 mean, standard deviation and each seed's, and how many
    seeds ended with routing warnings or dead experts."""
    lines = ["| variant | data | seeds | mAP50-95 mean | sd | per seed | seeds with warnings | dead experts per seed |",
             "|---|---|---:|---:|---:|---|---:|---|"]
    for v in variants:
        for d in datasets:
            cell = runs.get((v, d))
            if not cell:
                continue
            maps = [row["map50_95"] for row in cell]
            spread = statistics.stdev(maps) if len(maps) > 1 else 0.0
            moe = bool(cell[0]["router_entropy"])
            warned = sum(bool(row["warnings"]) for row in cell) if moe else "-"
            dead = " / ".join(str(sum(len(x) for x in row["dead_experts"].values())) for row in cell) if moe else "-"
            lines.append(f"| {v} | {d} | {len(cell)} | {statistics.mean(maps):.4f} | {spread:.4f} | "
                         f"{' / '.join(f'{m:.4f}' for m in maps)} | {warned} | {dead} |")
    return "\n".join(lines) + "\n"


def least_share_by_epoch(row: dict) -> list[float]:
    """Per epoch, the smallest expert share over every MoE layer's experts (validation, hard top-K)."""
    return [min((v for k, v in epoch.items() if k.startswith("usage:")), default=0.0) for epoch in row["usage_by_epoch"]]


def plot(rows: dict[tuple[str, str], dict], variants: list[str], datasets: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(20, 0.45 * len(variants) + 2))
    width = 0.8 / len(datasets)
    for j, d in enumerate(datasets):
        ys = [i + j * width for i in range(len(variants))]
        got = [(y, rows.get((v, d))) for y, v in zip(ys, variants)]
        got = [(y, r) for y, r in got if r is not None]
        axes[0].barh([y for y, _ in got], [r["map50_95"] for _, r in got], height=width, label=d)
        moe = [(y, r) for y, r in got if r["router_entropy"]]
        axes[1].barh([y for y, _ in moe], [max(r["router_entropy"].values()) for _, r in moe], height=width, label=d)
        axes[2].barh([y for y, _ in moe], [min(r["specialisation"].values(), default=0.0) for _, r in moe], height=width, label=d)
        for v in variants:
            row = rows.get((v, d))
            if row is not None and row["router_entropy"]:
                axes[3].plot(range(1, len(row["usage_by_epoch"]) + 1), least_share_by_epoch(row), marker="o",
                             linestyle="-" if j == 0 else "--", label=f"{v} ({d})")
    axes[1].axvline(0.97, color="red", linestyle="--", linewidth=1)
    axes[2].axvline(0.3, color="green", linestyle="--", linewidth=1)
    for ax, title in zip(axes, ("mAP50-95 (best.pt, hard top-K)", "max router entropy over layers (red: uniform warning)",
                                "min TV distance between regimes (green: goal 0.3)", "least-used expert's share by epoch (val)")):
        ax.set_title(title, fontsize=9)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6)
    for ax in axes[:3]:
        ax.set_yticks([i + 0.4 - width / 2 for i in range(len(variants))], variants if ax is axes[0] else [], fontsize=8)
        ax.invert_yaxis()
    axes[3].axhline(0.02, color="red", linestyle="--", linewidth=1)
    axes[3].set_xlabel("epoch")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedule", choices=sorted(SCHEDULES), default="demo")
    parser.add_argument("--epochs", type=int, default=None, help="override the schedule's epochs")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--datasets", nargs="+", default=["synthetic", "digits"], choices=["synthetic", "digits"])
    parser.add_argument("--seeds", type=int, default=1, help="train every run with seeds 0..N-1 and tabulate their spread")
    parser.add_argument("--out", type=Path, default=Path("runs/routing_ablation"))
    parser.add_argument("--collect", action="store_true", help="train nothing: tabulate the runs already finished under --out")
    args = parser.parse_args()
    schedule = SCHEDULES[args.schedule]
    if args.epochs:
        schedule = replace(schedule, epochs=args.epochs)
    label = f"{args.schedule}{'-' + str(args.epochs) if args.epochs else ''}"
    out = args.out / label
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1, got {args.seeds}")
    runs: dict[tuple[str, str], list[dict]] = {}  # (variant, dataset) -> one row per seed
    for seed in range(args.seeds):
        for variant in args.variants:
            for dataset in args.datasets:
                data = schedule.data if dataset == "synthetic" else DIGITS[args.schedule]
                folder = run_folder(out, dataset, variant, seed)
                if args.collect:
                    if (folder / "result.json").is_file():
                        runs.setdefault((variant, dataset), []).append(json.loads((folder / "result.json").read_text()))
                    continue
                print(f"{variant} on {data} ({schedule.epochs} epochs, seed {seed}) -> {folder}", flush=True)
                runs.setdefault((variant, dataset), []).append(run_variant(variant, replace(schedule, seed=seed), data, folder))
    rows = {cell: seeds[0] for cell, seeds in runs.items()}  # the single-seed table and plot: seed 0 where it ran
    print_table(rows, args.variants, args.datasets)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ablation.json").write_text(json.dumps([row for seeds in runs.values() for row in seeds], indent=1))
    (out / "ablation.md").write_text(markdown_table(rows, args.variants, args.datasets))
    plot(rows, args.variants, args.datasets, out / "ablation.png")
    written = [out / "ablation.json", out / "ablation.md", out / "ablation.png"]
    if args.seeds > 1:
        table = seed_table(runs, args.variants, args.datasets)
        print("\n" + table)
        (out / "seeds.md").write_text(table)
        written.append(out / "seeds.md")
    print("\n" + ", ".join(map(str, written)))


if __name__ == "__main__":
    main()
