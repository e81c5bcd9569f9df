"""Benchmark (not a test): where a sparse frame's time goes on ONNX Runtime CPU, graph by graph.

    .venv/bin/python benchmarks/graph_times.py esmoe-n-e8 --imgsz 640 [--by-op]

Exports the model's sparse and dense bundles to a temp folder and times every graph alone, on the runtime's own
ONNX Runtime backend (inputs and outputs bound once through IOBinding, every session on the process-wide thread
pool, as the plan executor runs them), each graph once per round as a frame runs them, so a load spike hits each
alike. Prints per graph its p50 and its convolution GFLOPs, and the sparse frame rebuilt from its graphs (every
segment plus K experts of each MoE layer, at the layer's mean expert time) against the dense graph. Where that sum
matches ``edge-moe bench``'s sparse row, the plan adds no time of its own and what is left of the sparse/dense
ratio above the FLOP ratio is how fast each graph's kernels run. ``--by-op`` turns on ONNX Runtime's profiler and
adds each graph's kernel time next to its wall time (what a call costs beyond its kernels) and the kernel time by
operator type of the shared segments, the experts a frame runs and the dense graph (the profiler slows every call a
little, the dense graph's 530 nodes most).
"""
from __future__ import annotations

import argparse
import collections
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import onnx

from edge_moe.exporters.export import export_with_report
from edge_moe.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend, OrtGraph
from edge_moe.runtime.bundle import Bundle, load_bundle
from edge_moe.runtime.schema import ExpertsStep


def conv_gflops(path: Path) -> float:
    """2 x multiply-accumulates of every Conv in the graph (its static shapes), in GFLOPs."""
    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in (*model.graph.value_info, *model.graph.output)}
    weights = {w.name: list(w.dims) for w in model.graph.initializer}
    total = 0.0
    for node in model.graph.node:
        if node.op_type == "Conv":
            _, per_group, kh, kw = weights[node.input[1]]  # (C_out, C_in / groups, kh, kw)
            total += 2.0 * np.prod(shapes[node.output[0]]) * per_group * kh * kw
    return total / 1e9


def bound_calls(bundle: Bundle, profile_to: Optional[Path] = None) -> tuple[dict[str, Callable[[], None]], dict[str, OrtGraph]]:
    """A zero-argument call per graph, its inputs and outputs bound once to buffers of the manifest's shapes, and the
    graph's session (profiled into ``profile_to`` where given)."""
    backend = OnnxRuntimeBackend(bundle)
    backend.options.enable_profiling = profile_to is not None
    if profile_to is not None:
        profile_to.mkdir(exist_ok=True)
    calls, sessions = {}, {}
    for name, entry in bundle.graphs.items():
        if profile_to is not None:
            backend.options.profile_file_prefix = str(profile_to / name)
        session = sessions[name] = backend.open(name)
        buffers = {spec.name: backend.allocate(spec.name, spec.shape, np.dtype(spec.dtype)) for spec in (*entry.inputs, *entry.outputs)}
        for spec in entry.inputs:
            if np.dtype(spec.dtype).kind == "f":
                buffers[spec.name].write(np.random.default_rng(0).random(spec.shape, np.float32))
        calls[name] = session.bind(buffers, buffers)
    return calls, sessions


def kernel_ms_by_op(session: OrtGraph) -> dict[str, float]:
    """Mean kernel ms per timed call of each operator type, from the session's profile (ends the profiling; the
    warm-up call, first, is left out)."""
    events = json.loads(Path(session.session.end_profiling()).read_text())
    runs = sorted(e["ts"] for e in events if e.get("cat") == "Session" and e["name"] == "model_run")
    total: dict[str, float] = collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time") and event["ts"] >= runs[1]:
            total[event["args"]["op_name"]] += event["dur"] / 1000 / (len(runs) - 1)  # microseconds -> ms
    return total


def time_graphs(calls: dict[str, Callable[[], None]], iters: int) -> dict[str, float]:
    """p50 ms of each call over ``iters`` rounds of one call each: a graph's caches hold the others' data, as in a
    frame (in turns of five calls each, every graph ran 2-3 ms a frame faster)."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for call in calls.values():
        call()  # warm-up
    for _ in range(iters):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(1000 * (time.perf_counter() - start))
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="zoo model with MoE layers")
    parser.add_argument("--imgsz", type=int, default=None)
    parser.add_argument("--iters", type=int, default=40, help="timed calls per graph")
    parser.add_argument("--by-op", action="store_true", help="profile: kernel time per graph and per operator type")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        report = export_with_report(args.model, Path(folder) / "sparse", args.imgsz, "sparse", other_out=Path(folder) / "dense")
        sparse, dense = load_bundle(report.bundle), load_bundle(Path(folder) / "dense")
        lowerings = {"sparse": sparse, "dense": dense}
        calls, sessions = {}, {}
        for lowering, bundle in lowerings.items():
            bound, opened = bound_calls(bundle, Path(folder) / f"profile-{lowering}" if args.by_op else None)
            calls.update({f"{lowering}/{name}": call for name, call in bound.items()})
            sessions.update({f"{lowering}/{name}": session for name, session in opened.items()})
        p50 = time_graphs(calls, args.iters)
        flops = {f"{lowering}/{name}": conv_gflops(bundle.graph_path(name))
                 for lowering, bundle in lowerings.items() for name in bundle.graphs}
        by_op = {name: kernel_ms_by_op(session) for name, session in sessions.items()} if args.by_op else {}

    rows: dict[str, tuple[float, float]] = {}  # graph (an MoE layer's experts: their mean) -> (p50 ms, GFLOPs)
    frame_ms = frame_gflops = 0.0  # the sparse frame: every segment, K experts per MoE layer
    for step in sparse.plan.steps:
        names = [f"sparse/{g}" for g in step.graphs] if isinstance(step, ExpertsStep) else [f"sparse/{step.graph}"]
        label = f"sparse/{step.layer} expert (mean of {len(names)})" if isinstance(step, ExpertsStep) else names[0]
        rows[label] = (statistics.mean(p50[n] for n in names), statistics.mean(flops[n] for n in names))
        k = len(step.outputs) if isinstance(step, ExpertsStep) else 1
        frame_ms += k * rows[label][0]
        frame_gflops += k * rows[label][1]
    for name in dense.graphs:
        rows[f"dense/{name}"] = (p50[f"dense/{name}"], flops[f"dense/{name}"])
    dense_ms = sum(p50[f"dense/{name}"] for name in dense.graphs)
    dense_gflops = sum(flops[f"dense/{name}"] for name in dense.graphs)

    print(f"{args.model}, ONNX Runtime CPU, each graph alone, p50 of {args.iters} calls")
    print("| graph | p50 ms | conv GFLOPs | GFLOPs per ms |\n|---|---:|---:|---:|")
    for label, (ms, gflops) in rows.items():
        print(f"| {label} | {ms:.2f} | {gflops:.3f} | {gflops / ms:.3f} |")
    print(f"sparse frame from its graphs: {frame_ms:.1f} ms, {frame_gflops:.2f} GFLOPs; dense graph: {dense_ms:.1f} ms, "
          f"{dense_gflops:.2f} GFLOPs; time ratio {frame_ms / dense_ms:.3f}, FLOP ratio {frame_gflops / dense_gflops:.3f}")
    if by_op:
        print_by_op(by_op, p50, flops, sparse)


def print_by_op(by_op: dict[str, dict[str, float]], p50: dict[str, float], flops: dict[str, float], sparse: Bundle) -> None:
    """Each graph's wall p50 against its kernels' mean, then kernel ms by operator type of the shared segments, the K
    experts per MoE layer a frame runs (the first K of each layer) and the dense graph."""
    print("\n| graph | wall p50 ms | kernels ms |\n|---|---:|---:|")
    for name, ops in by_op.items():
        print(f"| {name} | {p50[name]:.2f} | {sum(ops.values()):.2f} |")
    groups: dict[str, list[str]] = {"sparse shared segments": [], "sparse experts of a frame": [],
                                    "dense": [name for name in by_op if name.startswith("dense/")]}
    for step in sparse.plan.steps:
        if isinstance(step, ExpertsStep):
            groups["sparse experts of a frame"] += [f"sparse/{g}" for g in step.graphs[: len(step.outputs)]]
        else:
            groups["sparse shared segments"].append(f"sparse/{step.graph}")
    for label, names in groups.items():
        total: dict[str, float] = collections.Counter()
        for name in names:
            total.update(by_op[name])
        conv_gflops_total = sum(flops[name] for name in names)
        ops = ", ".join(f"{op} {ms:.2f}" for op, ms in total.most_common(8))
        rate = f"{conv_gflops_total / total['Conv']:.3f}" if total["Conv"] else "-"
        print(f"{label}: kernels {sum(total.values()):.2f} ms, Conv {total['Conv']:.2f} ms for {conv_gflops_total:.2f} GFLOPs "
              f"({rate} GFLOPs per ms); by operator: {ops}")


if __name__ == "__main__":
    main()
