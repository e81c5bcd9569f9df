"""Side-by-side batch-1 latency of backends x routings, with the compute each frame executed.

All configurations are timed in turn in one process, in blocks of a few frames (so ONNX Runtime's
spinning thread pools of one configuration do not eat into the next one's time), so a load spike
from another process hits every configuration alike and the ratios stay meaningful.
Executed GFLOPs per frame are exact for sparse routing: the FLOPs outside the experts plus those
of the K experts each MoE layer chose on that frame; dense routing executes all E experts.
"""
from __future__ import annotations

import platform
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch

from edge_moe.errors import UserError
from edge_moe.exporters.parity import parity_images
from edge_moe.models.complexity import Complexity, measure
from edge_moe.moe import moe_execution
from edge_moe.runtime.bundle import load_bundle

BACKENDS = ("torch", "onnxruntime")
ROUTINGS = ("sparse", "dense")
BLOCK = 5  # frames per configuration per turn

# A frame function returns {layer: ids} of the experts it ran (None: all of them, dense).
FrameFn = Callable[[np.ndarray], Optional[dict[str, list[int]]]]


@dataclass
class BenchRow:
    backend: str
    routing: str
    latency_ms_mean: float
    latency_ms_p50: float
    latency_ms_p95: float
    fps: float
    active_params_m: float  # parameters touched per frame (mean), millions
    executed_gflops: float  # per frame (mean)
    frames: int


@dataclass
class BenchReport:
    model: str
    imgsz: int
    iters: int
    machine: str
    results: list[BenchRow] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "imgsz": self.imgsz, "iters": self.iters, "machine": self.machine, "results": [asdict(r) for r in self.results]}

    def table(self) -> str:
        lines = [
            "| backend | routing | mean ms | p50 ms | p95 ms | FPS | active params (M) | executed GFLOPs | vs dense (p50) |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        dense = {r.backend: r.latency_ms_p50 for r in self.results if r.routing == "dense"}
        for r in self.results:
            ratio = f"{r.latency_ms_p50 / dense[r.backend]:.2f}x" if r.backend in dense else "-"
            lines.append(
                f"| {r.backend} | {r.routing} | {r.latency_ms_mean:.1f} | {r.latency_ms_p50:.1f} | {r.latency_ms_p95:.1f} | "
                f"{r.fps:.1f} | {r.active_params_m:.3f} | {r.executed_gflops:.3f} | {ratio} |"
            )
        return "\n".join(lines)


def machine(threads: int) -> str:
    import os

    ort = threads or "default"
    return f"{platform.machine()} {platform.processor() or platform.system()}, {os.cpu_count()} logical CPUs, torch threads {torch.get_num_threads()}, ORT threads {ort}"


def _torch_frame(model: torch.nn.Module, routing: str) -> FrameFn:
    def frame(image: np.ndarray) -> Optional[dict[str, list[int]]]:
        with torch.no_grad(), moe_execution(model, routing):
            outputs, routings = model(torch.from_numpy(image))
            model.decode(outputs)
        return None if routing == "dense" else {r.layer: r.ids[0].tolist() for r in routings}

    return frame


def _plan_frame(bundle_path: Path, threads: int) -> FrameFn:
    from edge_moe.runtime.backends.select import open_backend
    from edge_moe.runtime.plan import PlanExecutor

    bundle = load_bundle(bundle_path)
    executor = PlanExecutor(bundle, open_backend(bundle, "onnxruntime", threads=threads))
    dense = bundle.routing == "dense"

    def frame(image: np.ndarray) -> Optional[dict[str, list[int]]]:
        result = executor(image)
        return None if dense else {r.layer: r.ids.tolist() for r in result.routing}

    return frame


def _bundle_model(bundle) -> torch.nn.Module:
    """The model a bundle was exported from, rebuilt from its manifest's ``config`` (to count executed compute).

    ``config`` is not one of the manifest fields the runtime needs (``MANIFEST_KEYS``), so a bundle may lack it.
    """
    from edge_moe.models import detector_from_config
    from edge_moe.runtime.bundle import MANIFEST

    where = bundle.root / MANIFEST
    config = bundle.manifest.get("config")
    if not isinstance(config, dict):
        raise UserError(f"{where}: no model 'config' field (bench needs it to count executed compute); "
                        "re-export the bundle, or bench the model or checkpoint it came from")
    try:
        return detector_from_config(config).eval()
    except (TypeError, ValueError, KeyError) as error:
        raise UserError(f"{where}: invalid model 'config' field: {error}") from None


def _frame_cost(cost: Complexity, chosen: Optional[dict[str, list[int]]]) -> tuple[float, float]:
    """(params, FLOPs) executed on one frame."""
    if chosen is None:
        return float(cost.params), cost.flops
    params = cost.base_params + sum(
        sum(layer.expert_params[e] for e in chosen[layer.name]) for layer in cost.layers
    )
    return float(params), cost.executed_flops(chosen)


def benchmark(
    source: str,
    backends: tuple[str, ...] = BACKENDS,
    routings: tuple[str, ...] = ROUTINGS,
    imgsz: Optional[int] = None,
    iters: int = 50,
    warmup: int = 5,
    workdir: Optional[Path] = None,
    progress: bool = True,
    threads: int = 0,
) -> BenchReport:
    """Times every backend x routing on ``source`` (zoo name, checkpoint or bundle directory).

    ``threads``: torch threads and ONNX Runtime intra-op threads (0: each library's default).
    """
    unknown = [b for b in backends if b not in BACKENDS] + [r for r in routings if r not in ROUTINGS]
    if unknown:
        raise UserError(f"unknown backend/routing {unknown}; backends: {list(BACKENDS)}, routings: {list(ROUTINGS)}")
    if iters < 1:
        raise UserError(f"iters must be >= 1, got {iters}")
    if threads < 0:
        raise UserError(f"threads must be >= 0 (0: library default), got {threads}")
    from edge_moe.threads import torch_threads

    with torch_threads(threads):
        return _measure(source, backends, routings, imgsz, iters, warmup, workdir, progress, threads)


def _measure(
    source: str, backends: tuple[str, ...], routings: tuple[str, ...], imgsz: Optional[int], iters: int, warmup: int,
    workdir: Optional[Path], progress: bool, threads: int,
) -> BenchReport:
    from tqdm import tqdm

    from edge_moe.exporters.export import DEFAULT_OPSET, export_with_report, resolve_source, validate_options

    frames: dict[tuple[str, str], FrameFn] = {}
    source_path = Path(source)
    with tempfile.TemporaryDirectory(prefix="edge-moe-bench-", dir=workdir) as scratch:
        if source_path.is_dir():
            bundle = load_bundle(source_path)
            if "torch" in backends or any(r != bundle.routing for r in routings):
                raise UserError(f"{source}: a bundle benchmarks only on onnxruntime with its own routing ({bundle.routing}); pass a model or checkpoint to compare")
            model = _bundle_model(bundle)
            imgsz = bundle.input_size[0]
            frames[("onnxruntime", bundle.routing)] = _plan_frame(source_path, threads)
            name = bundle.model
        else:
            model, _, _ = resolve_source(source)
            imgsz = imgsz or model.config.imgsz
            validate_options(model, imgsz, "sparse", DEFAULT_OPSET)
            name = model.config.name
            if "onnxruntime" in backends:
                sparse, dense = Path(scratch) / "sparse", Path(scratch) / "dense"
                export_with_report(model, sparse, imgsz=imgsz, routing="sparse", parity_count=1, other_out=dense)
                for routing, path in (("sparse", sparse), ("dense", dense if dense.exists() else sparse)):
                    if routing in routings:
                        frames[("onnxruntime", routing)] = _plan_frame(path, threads)
            if "torch" in backends:
                for routing in routings:
                    frames[("torch", routing)] = _torch_frame(model, routing)
        cost = measure(model, imgsz)
        order = [(b, r) for b in backends for r in routings if (b, r) in frames]
        images = parity_images(8, imgsz)
        times: dict[tuple[str, str], list[float]] = {key: [] for key in order}
        spent: dict[tuple[str, str], list[tuple[float, float]]] = {key: [] for key in order}
        total = warmup + iters
        done = {key: 0 for key in order}
        with tqdm(total=total * len(order), desc=f"bench {name}", disable=not progress, leave=False) as bar:
            while any(done[key] < total for key in order):
                for key in order:  # blocks of BLOCK frames, configurations in turn
                    for _ in range(min(BLOCK, total - done[key])):
                        i = done[key]
                        image = images[i % len(images)][None]  # (1, 3, H, W)
                        start = time.perf_counter()
                        chosen = frames[key](image)
                        elapsed = time.perf_counter() - start
                        if i >= warmup:
                            times[key].append(elapsed * 1000)
                            spent[key].append(_frame_cost(cost, chosen))
                        done[key] += 1
                        bar.update()
    report = BenchReport(name, imgsz, iters, machine(threads))
    for key in order:
        ms = np.array(times[key])
        params, flops = np.array(spent[key]).mean(axis=0)
        report.results.append(BenchRow(
            backend=key[0], routing=key[1],
            latency_ms_mean=round(float(ms.mean()), 2),
            latency_ms_p50=round(float(np.percentile(ms, 50)), 2),
            latency_ms_p95=round(float(np.percentile(ms, 95)), 2),
            fps=round(1000.0 / float(ms.mean()), 2),
            active_params_m=round(params / 1e6, 4),
            executed_gflops=round(flops / 1e9, 4),
            frames=len(ms),
        ))
    return report
