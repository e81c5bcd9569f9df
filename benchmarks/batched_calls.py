"""Batch 1 vs batch B: per-frame time of one model's sparse and dense bundles, side by side in one run.

    python benchmarks/batched_calls.py [--model esmoe-pico] [--imgsz 256] [--batch 4] [--backend onnxruntime] [--iters 40]

Exports the model at batch 1 and at batch B (sparse and dense each), then times the four plans in turns
(blocks of 5 calls each) on the same frames: a batch-B call gets B frames, a batch-1 call one. Prints per-frame
p50, host bytes per frame, the share of batch-B calls in which the experts took the grouped (gather / scatter)
path, and the ratios batch B / batch 1 and sparse / dense. The frames are held-out scenes of the synthetic set
(both density regimes); an untrained zoo model routes them alike, a trained checkpoint (``--model
runs/.../best.pt``, e.g. the one ``make demo`` trains) shows real grouping.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from edge_moe.exporters.export import export_with_report
from edge_moe.data.synthetic import render_frames
from edge_moe.runtime.backends.select import open_backend
from edge_moe.runtime.bundle import load_bundle
from edge_moe.runtime.detector import input_spec
from edge_moe.runtime.plan import PlanExecutor, expert_groups
from edge_moe.runtime.preprocess import prepare

BLOCK = 5


def grouped_share(executor: PlanExecutor, images: np.ndarray) -> float:
    """Fraction of MoE layers whose experts took the gather / scatter path on this batch."""
    results = executor.run_batch(images)
    layers = [np.stack([r.routing[i].ids for r in results]) for i in range(len(executor.layers))]  # (B, K) each
    grouped = [any(len(m) != len(images) or len({s for _, s in m}) > 1 for m in expert_groups(ids).values()) for ids in layers]
    return float(np.mean(grouped)) if grouped else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="esmoe-pico", help="zoo name or checkpoint")
    parser.add_argument("--imgsz", type=int, default=256)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--backend", default="onnxruntime")
    parser.add_argument("--iters", type=int, default=40, help="timed calls per plan")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edge-moe-batched-") as scratch:
        plans = {}
        for batch in (1, args.batch):
            root = Path(scratch) / f"b{batch}"
            export_with_report(args.model, root / "sparse", imgsz=args.imgsz, parity_count=1, other_out=root / "dense", batch=batch)
            for routing in ("sparse", "dense"):
                bundle = load_bundle(root / routing)
                plans[(batch, routing)] = PlanExecutor(bundle, open_backend(bundle, args.backend))
        spec = input_spec(plans[(1, "sparse")].bundle)
        frames = np.concatenate([prepare(frame, spec)[0] for frame in render_frames(8 * args.batch, args.imgsz)])  # (N, 3, H, W)
        times = {key: [] for key in plans}
        moved = {key: [] for key in plans}
        for key, executor in plans.items():  # warm-up
            executor.run_batch(frames[: key[0]])
        for turn in range(0, args.iters, BLOCK):
            for (batch, routing), executor in plans.items():
                for i in range(turn, min(turn + BLOCK, args.iters)):
                    start = (i * batch) % len(frames)
                    images = frames[start : start + batch]
                    t0 = time.perf_counter()
                    results = executor.run_batch(images)
                    times[(batch, routing)].append((time.perf_counter() - t0) * 1000 / batch)
                    moved[(batch, routing)].append(results[0].host_bytes)
        share = grouped_share(plans[(args.batch, "sparse")], frames[: args.batch])
        for executor in plans.values():
            executor.close()
    p50 = {key: float(np.median(value)) for key, value in times.items()}
    print(f"{args.model} at {args.imgsz}, backend {args.backend}, {args.iters} calls per plan in turns of {BLOCK}")
    print("| batch | routing | ms per frame (p50) | host bytes / frame | vs batch 1 | sparse / dense |")
    print("|---:|---|---:|---:|---:|---:|")
    for (batch, routing), value in p50.items():
        print(f"| {batch} | {routing} | {value:.2f} | {int(np.mean(moved[(batch, routing)])):,} | {value / p50[(1, routing)]:.2f}x | "
              f"{value / p50[(batch, 'dense')]:.2f}x |")
    print(f"MoE layers of a batch-{args.batch} call that took the gather / scatter path: {share:.0%}")


if __name__ == "__main__":
    main()
