"""Side-by-side latency of backends x routings, with the compute each frame executed: batch 1, or a batched
bundle's batch (``export --batch B``: its calls carry B frames, and a frame's time is its share of its call's).

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
from edge_moe.model_source import source_kind
from edge_moe.exporters.parity import parity_images
from edge_moe.models.complexity import Complexity, measure
from edge_moe.moe import moe_execution
from edge_moe.runtime.bundle import load_bundle

BACKENDS = ("torch", "onnxruntime", "tensorrt")
ROUTINGS = ("sparse", "dense")
DEVICES = ("cpu", "cuda")
BLOCK = 5  # frames per configuration per turn


@dataclass
class FrameRun:
    chosen: Optional[dict[str, list[int]]]  # {layer: ids} of the experts that ran (None: all of them, dense)
    host_bytes: Optional[int] = None  # bytes moved between host memory and the backend (None: not measured)
    device_ms: Optional[float] = None  # GPU time from CUDA events (None: the backend has no device timer)


FrameFn = Callable[[np.ndarray], list[FrameRun]]  # (N, ...) frames -> one FrameRun each


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
    host_bytes_per_frame: Optional[int] = None  # host <-> backend traffic per frame (plan executor; torch on CUDA)
    device_ms_p50: Optional[float] = None  # GPU time per frame from CUDA events (TensorRT backend)


@dataclass
class BenchReport:
    model: str
    imgsz: int
    iters: int
    machine: str
    results: list[BenchRow] = field(default_factory=list)
    batch: int = 1  # frames per call

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "imgsz": self.imgsz, "batch": self.batch, "iters": self.iters, "machine": self.machine,
                "results": [asdict(r) for r in self.results]}

    def table(self) -> str:
        lines = [
            "| backend | routing | mean ms | p50 ms | p95 ms | FPS | active params (M) | executed GFLOPs | host bytes/frame | vs dense (p50) |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        dense = {r.backend: r.latency_ms_p50 for r in self.results if r.routing == "dense"}
        for r in self.results:
            ratio = f"{r.latency_ms_p50 / dense[r.backend]:.2f}x" if r.backend in dense else "-"
            moved = f"{r.host_bytes_per_frame:,}" if r.host_bytes_per_frame is not None else "-"
            lines.append(
                f"| {r.backend} | {r.routing} | {r.latency_ms_mean:.1f} | {r.latency_ms_p50:.1f} | {r.latency_ms_p95:.1f} | "
                f"{r.fps:.1f} | {r.active_params_m:.3f} | {r.executed_gflops:.3f} | {moved} | {ratio} |"
            )
        return "\n".join(lines)


def machine(threads: int, device: str = "cpu") -> str:
    import os

    ort = threads or "default"
    cpu = f"{platform.machine()} {platform.processor() or platform.system()}, {os.cpu_count()} logical CPUs, torch threads {torch.get_num_threads()}, ORT threads {ort}"
    return f"{torch.cuda.get_device_name(0)} (torch CUDA {torch.version.cuda}), {cpu}" if device == "cuda" else cpu


def _torch_frame(model: torch.nn.Module, routing: str, device: str) -> FrameFn:
    """Eager PyTorch: FP32 on the CPU, FP16 on CUDA (with the frame upload and the readback counted)."""
    on_gpu = device == "cuda"
    model = model.to(device).half() if on_gpu else model
    program = model.program()
    outputs = program.deploy_outputs or program.outputs

    def frame(image: np.ndarray) -> list[FrameRun]:  # model sources run batch 1
        with torch.no_grad(), moe_execution(model, routing):
            x = torch.from_numpy(image).to(device)
            env, routings = program.run(x.half() if on_gpu else x, deploy=True)  # forward + decoding / softmax
            chosen = None if routing == "dense" else {r.layer: r.ids[0].tolist() for r in routings}
            if not on_gpu:
                return [FrameRun(chosen)]
            moved = image.nbytes + sum(env[name].cpu().numpy().nbytes for name in outputs)
            return [FrameRun(chosen, moved + sum(r.ids.nbytes for r in routings if routing == "sparse"))]

    return frame


def _torch_cuda_graph_frame(model: torch.nn.Module, imgsz: int) -> FrameFn:
    """Dense FP16 PyTorch captured once into a CUDA graph and replayed. Sparse routing cannot be captured whole:
    the host reads each MoE layer's expert ids to pick the experts (the plan executor captures per graph instead)."""
    model = model.to("cuda").half()
    program = model.program()
    static = torch.zeros((1, 3, imgsz, imgsz), device="cuda", dtype=torch.half)

    def forward() -> list[torch.Tensor]:
        with torch.no_grad(), moe_execution(model, "dense"):
            env, _ = program.run(static, deploy=True)
        return [env[name] for name in program.deploy_outputs or program.outputs]

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up outside the capture (cuDNN picks its algorithms here)
        for _ in range(3):
            forward()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        outputs = forward()

    def frame(image: np.ndarray) -> list[FrameRun]:
        static.copy_(torch.from_numpy(image))
        graph.replay()
        return [FrameRun(None, image.nbytes + sum(out.cpu().numpy().nbytes for out in outputs))]

    return frame


def _plan_frame(bundle_path: Path, backend: str, threads: int, cuda_graphs: bool = False, top_k: Optional[int] = None) -> FrameFn:
    from edge_moe.runtime.backends.select import open_backend
    from edge_moe.runtime.plan import PlanExecutor

    bundle = load_bundle(bundle_path)
    executor = PlanExecutor(bundle, open_backend(bundle, backend, threads=threads, cuda_graphs=cuda_graphs))
    dense = bundle.routing == "dense"
    executor.top_k_per_layer(top_k)  # a K' out of range fails before any frame

    def frame(images: np.ndarray) -> list[FrameRun]:
        return [FrameRun(None if dense else {r.layer: r.ids.tolist() for r in result.routing}, result.host_bytes, result.device_ms)
                for result in executor.run_batch(images, top_k)]

    return frame


def _bundle_model(bundle) -> torch.nn.Module:
    """The model a bundle was exported from, rebuilt from its manifest's ``config`` (to count executed compute).

    ``config`` is not a field the runtime needs, so a bundle may lack it.
    """
    from edge_moe.models import model_from_config
    from edge_moe.runtime.bundle import MANIFEST

    where = bundle.root / MANIFEST
    config = bundle.manifest.config
    if config is None:
        raise UserError(f"{where}: no model 'config' field (bench needs it to count executed compute); "
                        "re-export the bundle, or bench the model or checkpoint it came from")
    try:
        return model_from_config(config).eval()
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
    backends: tuple[str, ...] = ("torch", "onnxruntime"),
    routings: tuple[str, ...] = ROUTINGS,
    imgsz: Optional[int] = None,
    iters: int = 50,
    warmup: int = 5,
    workdir: Optional[Path] = None,
    progress: bool = True,
    threads: int = 0,
    device: str = "cpu",
    cuda_graphs: bool = False,
    top_k: Optional[int] = None,
) -> BenchReport:
    """Times every backend x routing on ``source`` (zoo name, checkpoint or bundle directory).

    ``top_k``: the plan rows (onnxruntime, tensorrt) run only K' experts per MoE layer, as ``edge-moe run --top-k``.

    ``threads``: torch threads and ONNX Runtime intra-op threads (0: each library's default). ``device="cuda"``
    runs the torch rows on the GPU in FP16; ``cuda_graphs`` adds a dense torch row replayed from a CUDA graph and
    captures the plan executor's graphs (TensorRT, ONNX Runtime CUDA).
    """
    unknown = [b for b in backends if b not in BACKENDS] + [r for r in routings if r not in ROUTINGS]
    if unknown:
        raise UserError(f"unknown backend/routing {unknown}; backends: {list(BACKENDS)}, routings: {list(ROUTINGS)}")
    if device not in DEVICES:
        raise UserError(f"device must be one of {list(DEVICES)}, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: torch sees no CUDA GPU here (torch.cuda.is_available() is False)")
    if iters < 1:
        raise UserError(f"iters must be >= 1, got {iters}")
    if threads < 0:
        raise UserError(f"threads must be >= 0 (0: library default), got {threads}")
    from edge_moe.threads import torch_threads

    with torch_threads(threads):
        return _measure(source, backends, routings, imgsz, iters, warmup, workdir, progress, threads, device, cuda_graphs, top_k)


def _measure(
    source: str, backends: tuple[str, ...], routings: tuple[str, ...], imgsz: Optional[int], iters: int, warmup: int,
    workdir: Optional[Path], progress: bool, threads: int, device: str, cuda_graphs: bool, top_k: Optional[int] = None,
) -> BenchReport:
    from tqdm import tqdm

    from edge_moe.exporters.export import DEFAULT_OPSET, export_with_report, resolve_source, validate_options

    frames: dict[tuple[str, str], FrameFn] = {}
    batch = 1  # frames per call: a batched bundle's batch
    source_path = Path(source)
    with tempfile.TemporaryDirectory(prefix="edge-moe-bench-", dir=workdir) as scratch:
        if source_kind(source) == "bundle":
            bundle = load_bundle(source_path)
            if "torch" in backends or any(r != bundle.routing for r in routings):
                raise UserError(f"{source}: a bundle benchmarks only on onnxruntime or tensorrt with its own routing "
                                f"({bundle.routing}); pass a model or checkpoint to compare")
            model = _bundle_model(bundle)
            imgsz, batch = bundle.input_size[0], bundle.input.batch
            cost = measure(model, imgsz)
            for backend in backends:
                frames[(backend, bundle.routing)] = _plan_frame(source_path, backend, threads, cuda_graphs, top_k)
            name = bundle.model
        else:
            if "tensorrt" in backends:
                raise UserError("the tensorrt backend benchmarks a bundle with engines: export it, run `edge-moe build-engine`, "
                                "then `edge-moe bench BUNDLE --backend tensorrt`")
            model, _, _ = resolve_source(source)
            imgsz = imgsz or model.config.imgsz
            validate_options(model, imgsz, "sparse", DEFAULT_OPSET)
            name = model.config.name
            cost = measure(model, imgsz)  # before the torch rows move the model to the GPU
            if "onnxruntime" in backends:
                sparse, dense = Path(scratch) / "sparse", Path(scratch) / "dense"
                export_with_report(model, sparse, imgsz=imgsz, routing="sparse", parity_count=1, other_out=dense)
                for routing, path in (("sparse", sparse), ("dense", dense if dense.exists() else sparse)):
                    if routing in routings:
                        frames[("onnxruntime", routing)] = _plan_frame(path, "onnxruntime", threads, cuda_graphs, top_k)
            if "torch" in backends:
                for routing in routings:
                    frames[("torch", routing)] = _torch_frame(model, routing, device)
                if device == "cuda" and cuda_graphs and "dense" in routings:
                    frames[("torch+cudagraph", "dense")] = _torch_cuda_graph_frame(model, imgsz)
        order = list(frames)
        images = parity_images(8, imgsz)
        times: dict[tuple[str, str], list[float]] = {key: [] for key in order}
        spent: dict[tuple[str, str], list[tuple[float, float]]] = {key: [] for key in order}
        moved: dict[tuple[str, str], list[Optional[int]]] = {key: [] for key in order}
        on_device: dict[tuple[str, str], list[Optional[float]]] = {key: [] for key in order}
        total = warmup + iters
        done = {key: 0 for key in order}
        with tqdm(total=total * len(order), desc=f"bench {name}", disable=not progress, leave=False) as bar:
            while any(done[key] < total for key in order):
                for key in order:  # blocks of BLOCK frames, configurations in turn
                    for _ in range(min(BLOCK, total - done[key])):
                        i = done[key]
                        batch_images = images[[(i * batch + j) % len(images) for j in range(batch)]]  # (B, 3, H, W)
                        start = time.perf_counter()
                        runs = frames[key](batch_images)
                        elapsed = time.perf_counter() - start
                        if i >= warmup:
                            for run in runs:
                                times[key].append(elapsed * 1000 / len(runs))
                                spent[key].append(_frame_cost(cost, run.chosen))
                                moved[key].append(run.host_bytes)
                                on_device[key].append(run.device_ms)
                        done[key] += 1
                        bar.update()
    report = BenchReport(name, imgsz, iters, machine(threads, device), batch=batch)
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
            host_bytes_per_frame=None if None in moved[key] else round(float(np.mean(moved[key]))),
            device_ms_p50=None if None in on_device[key] else round(float(np.percentile(on_device[key], 50)), 3),
        ))
    return report
