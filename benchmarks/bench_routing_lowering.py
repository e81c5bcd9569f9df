"""Which sparse lowering to ship: segmented plan vs one graph with ONNX ``If`` nodes vs dense, timed
in turns at batch 1 on ONNX Runtime CPU (every session on the runtime's shared thread pool).

    .venv/bin/python benchmarks/bench_routing_lowering.py --model esmoe-n-e8 --imgsz 640 --iters 30

Prints a markdown table (p50/p95 ms, ratio to dense) and the max abs box difference to dense,
which shows every form computes the same function.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from edge_moe.exporters.export import resolve_source, write_bundle
from edge_moe.exporters.graphs import lower
from edge_moe.exporters.if_form import if_form
from edge_moe.exporters.onnx_graph import DEFAULT_OPSET
from edge_moe.exporters.parity import parity_images
from edge_moe.runtime.bundle import load_bundle
from edge_moe.runtime.plan import PlanExecutor

BLOCK = 5  # frames per form per turn: spinning pools of one form do not eat into the next one's time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="esmoe-n-e8")
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--iters", type=int, default=30)
    args = parser.parse_args()
    torch.manual_seed(0)
    model, names, source = resolve_source(args.model)
    meta = {"edge_moe.model": args.model}
    with tempfile.TemporaryDirectory() as scratch:
        forms = {
            "dense (one graph, all experts)": lower(model, "dense", args.imgsz, DEFAULT_OPSET, meta),
            "segmented, combine in next graph (default)": lower(model, "sparse", args.imgsz, DEFAULT_OPSET, meta, combine="slots"),
            # the If form is assembled from segments that take the mixed expert output
            "one graph with If per expert": if_form(lower(model, "sparse", args.imgsz, DEFAULT_OPSET, meta, combine="mixed"), DEFAULT_OPSET),
        }
        executors = {}
        for i, (label, lowered) in enumerate(forms.items()):
            root = Path(scratch) / str(i)
            write_bundle(lowered, root, model, names, source, args.imgsz, DEFAULT_OPSET, fp16=False)
            bundle = load_bundle(root)
            executors[label] = PlanExecutor(bundle)
        images = parity_images(8, args.imgsz)
        reference = [executors["dense (one graph, all experts)"](images[i : i + 1]) for i in range(len(images))]
        times = {key: [] for key in executors}
        for turn in tqdm(range(-1, args.iters // BLOCK), desc="bench lowerings", leave=False):
            for key, executor in executors.items():  # blocks of BLOCK frames, forms in turn
                for j in range(BLOCK):
                    i = (turn * BLOCK + j) % len(images)
                    start = time.perf_counter()
                    result = executor(images[i : i + 1])
                    if turn >= 0:  # turn -1 warms up
                        times[key].append((time.perf_counter() - start) * 1000)
                    diff = float(np.abs(result.boxes - reference[i].boxes).max())
                    assert diff < 1e-3, f"{key}: boxes differ from dense by {diff}"
    dense = np.percentile(times["dense (one graph, all experts)"], 50)
    print(f"{args.model} at {args.imgsz}, ONNX Runtime CPU, batch 1, {args.iters} frames each, in turns of {BLOCK}")
    print("| lowering | p50 ms | p95 ms | vs dense |")
    print("|---|---:|---:|---:|")
    for label, ms in times.items():
        p50, p95 = np.percentile(ms, 50), np.percentile(ms, 95)
        print(f"| {label} | {p50:.1f} | {p95:.1f} | {p50 / dense:.2f}x |")


if __name__ == "__main__":
    main()
