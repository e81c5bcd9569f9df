"""``edge-moe build-engine``: one engine per bundle graph, for TensorRT or TensorRT-RTX.

Engines are plain serialized plans (``trtexec --loadEngine`` reads them), written as
``engines/<graph>.<key>.engine`` and recorded in the manifest with the flavour, version, GPU or
targeted compute capabilities, precision and the ONNX hash they were built from. An engine whose
cache key is unchanged is not rebuilt. One builder; what differs per flavour is a small adapter
(:mod:`edge_moe.exporters.engine_flavours`); the policy is :mod:`edge_moe.exporters.engine_policy`.
"""
from __future__ import annotations

import importlib.util
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from edge_moe.errors import UserError
from edge_moe.exporters.engine_flavours import TARGET_ADAPTERS
from edge_moe.exporters.engine_policy import (
    Device, EngineJob, Precision, choose_target, engine_metadata, parse_compute_capabilities, plan_builds, validation_warning,
)
from edge_moe.exporters.network_check import DTYPES, Layer, check_fp16_precision, check_io, profile_shapes
from edge_moe.runtime.bundle import Bundle, load_bundle, sha256_of, write_manifest
from edge_moe.runtime.schema import EngineRecord, GraphEntry, TensorSpec
from edge_moe.runtime.sinks.atomic import atomic_write

INSTALL_HINT = ("no TensorRT is installed: `pip install 'edge-moe[tensorrt-rtx]'` (TensorRT-RTX: builds on any machine, "
                "engines for RTX GPUs) or `pip install 'edge-moe[tensorrt]'` (TensorRT; on a Jetson it ships with JetPack)")


@dataclass
class BuildReport:
    bundle: Path
    precision: Precision
    device: Device
    built: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # build time per built graph
    validation: dict[str, Any] = field(default_factory=dict)
    warning: Optional[str] = None


def load_target(target: str, timing_cache: Optional[str | Path] = None) -> tuple[Any, Any]:
    """(adapter, tensorrt module) for ``--target``; ``auto`` picks TensorRT where it can build, else TensorRT-RTX."""
    from edge_moe.environment.cuda import gpus

    chosen = choose_target(target, importlib.util.find_spec("tensorrt") is not None, bool(gpus()))
    adapter = TARGET_ADAPTERS[chosen](timing_cache)
    try:
        return adapter, adapter.load()
    except ImportError as error:
        if (error.name or "").split(".")[0] != adapter.flavour.module:
            raise
        if target == "auto":
            raise UserError(INSTALL_HINT) from None
        raise UserError(f"--target {target}: {adapter.flavour.module} is not installed: pip install '{adapter.flavour.extra}'") from None


def parse_network(trt: Any, adapter: Any, precision: Precision, onnx_path: Path, logger: Any) -> tuple[Any, Any, Any]:
    """(builder, network, parser) for one ONNX graph (the parser owns the weights: keep it until the build is done);
    a parser failure is a one-line error naming the file."""
    builder = trt.Builder(logger)
    network = builder.create_network(adapter.network_flags(trt, precision))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        first = parser.get_error(0).desc() if parser.num_errors else "unknown error"
        raise UserError(f"{onnx_path}: {adapter.flavour.label}'s ONNX parser failed: {first}")
    return builder, network, parser


def _dtype(tensor_or_type: Any) -> str:
    return str(tensor_or_type).split(".")[-1]


def check_network(network: Any, graph: str, entry: GraphEntry, precision: Precision) -> None:
    """The parsed network against the manifest's graph I/O and, strongly typed FP16, the routing precision."""
    def tensors(count: int, get: Any) -> list[TensorSpec]:
        return [TensorSpec(t.name, tuple(t.shape), DTYPES.get(_dtype(t.dtype), _dtype(t.dtype))) for t in map(get, range(count))]

    check_io(graph, "input", entry.inputs, tensors(network.num_inputs, network.get_input))
    check_io(graph, "output", entry.outputs, tensors(network.num_outputs, network.get_output))
    if precision.strongly_typed and precision.name == "fp16":
        layers = [network.get_layer(i) for i in range(network.num_layers)]
        check_fp16_precision(graph, [Layer(l.name, _dtype(l.type), tuple(_dtype(l.get_output(j).dtype) for j in range(l.num_outputs)))
                                     for l in layers])


def add_profile(builder: Any, config: Any, network: Any, entry: GraphEntry) -> None:
    """An optimization profile when the graph has dynamic dimensions (a batched bundle's experts: 1..B rows)."""
    shapes = {spec.name: spec.shape for spec in entry.inputs}
    ranges = {}
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        bounds = profile_shapes(tuple(tensor.shape), shapes[tensor.name])
        if bounds is not None:
            ranges[tensor.name] = bounds
    if ranges:
        profile = builder.create_optimization_profile()
        for name, (smallest, best, largest) in ranges.items():
            profile.set_shape(name, smallest, best, largest)
        config.add_optimization_profile(profile)


def build_one(trt: Any, adapter: Any, bundle: Bundle, job: EngineJob, precision: Precision, device: Device, workspace_mib: int) -> bytes:
    """Parses and checks one graph and returns the serialized engine; updates the adapter's caches."""
    logger = trt.Logger(trt.Logger.ERROR)
    builder, network, _parser = parse_network(trt, adapter, precision, bundle.root / job.onnx, logger)
    check_network(network, job.graph, bundle.graphs[job.graph], precision)
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mib << 20)
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED  # the engine keeps its layer report
    for flag in precision.flags:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    add_profile(builder, config, network, bundle.graphs[job.graph])
    adapter.configure(trt, config, network, precision, device)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise UserError(f"{bundle.root / job.onnx}: {adapter.flavour.label} could not build an engine (see its log above)")
    adapter.save_caches(config)
    return bytes(plan)


def layer_report(trt: Any, plan: bytes) -> Optional[str]:
    """The builder's per-layer report (JSON) of an engine; None where it cannot be deserialised."""
    engine = trt.Runtime(trt.Logger(trt.Logger.ERROR)).deserialize_cuda_engine(plan)
    if engine is None:
        return None
    return engine.create_engine_inspector().get_engine_information(trt.LayerInformationFormat.JSON)


def build_engines(
    bundle_path: str | Path,
    fp16: bool = True,
    workspace_mib: int = 1024,
    timing_cache: Optional[str | Path] = None,
    version_compatible: bool = False,
    validate_frames: int = 8,
    progress: bool = True,
    target: str = "auto",
    compute_capabilities: Optional[str] = None,
    dla_core: Optional[int] = None,
) -> BuildReport:
    """Builds (or reuses) the engines of every graph of a bundle and records them in its manifest.

    A failed build removes the engines it wrote and leaves the manifest as it was.
    """
    from tqdm import tqdm

    if workspace_mib < 16:
        raise UserError(f"--workspace must be at least 16 MiB, got {workspace_mib}")
    bundle = load_bundle(bundle_path)
    adapter, trt = load_target(target, timing_cache)
    precision = adapter.precision(trt.__version__, fp16, version_compatible, dla_core)
    device = adapter.device(trt, parse_compute_capabilities(compute_capabilities), dla_core)
    if precision.onnx == "fp16":
        missing = [name for name, entry in bundle.graphs.items() if entry.fp16 is None]
        if missing:
            raise UserError(f"{bundle.root}: graph {missing[0]} has no FP16 ONNX (graphs.{missing[0]}.fp16) for --fp16; "
                            "re-export the bundle with this edge-moe, or build FP32 engines with --no-fp16")
    jobs = plan_builds(bundle.manifest, bundle.root, device, precision, workspace_mib)
    report = BuildReport(bundle.root, precision, device)
    engines: dict[str, EngineRecord] = {}
    inspect = adapter.can_load_here(device)
    written: list[Path] = []
    try:
        for job in tqdm(jobs, desc=f"build-engine ({adapter.flavour.label})", disable=not progress):
            if job.up_to_date:
                engines[job.graph] = bundle.engines[job.graph]
                report.reused.append(job.graph)
                continue
            start = time.perf_counter()
            plan = build_one(trt, adapter, bundle, job, precision, device, workspace_mib)
            seconds = time.perf_counter() - start
            engine_path = bundle.root / job.engine
            engine_path.parent.mkdir(exist_ok=True)
            written.append(engine_path)
            atomic_write(engine_path, lambda tmp, plan=plan: tmp.write_bytes(plan))
            record = engine_metadata(job, sha256_of(engine_path), device, precision, workspace_mib, seconds)
            report_text = layer_report(trt, plan) if inspect else None
            if report_text is not None:
                layers = engine_path.with_suffix(".layers.json")
                written.append(layers)
                atomic_write(layers, lambda tmp, text=report_text: tmp.write_text(text))
                record["layers"] = layers.relative_to(bundle.root).as_posix()
            engines[job.graph] = EngineRecord(record["file"], record["sha256"], record)
            report.built.append(job.graph)
            report.seconds[job.graph] = seconds
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    _write_engines(bundle, engines, jobs)
    if validate_frames and inspect:
        report.validation = validate(bundle.root, validate_frames)
        report.warning = validation_warning(report.validation)
    return report


def _write_engines(bundle: Bundle, engines: dict[str, EngineRecord], jobs: list[EngineJob]) -> None:
    """Points the manifest at the new engines (atomically), then drops engine files no longer named."""
    root = bundle.root
    write_manifest(root, bundle.manifest.replace(engines=engines))
    keep = {job.engine for job in jobs} | {e.get("layers") for e in engines.values() if e.get("layers")}
    for old in [*(root / "engines").glob("*.engine"), *(root / "engines").glob("*.layers.json")]:
        if f"engines/{old.name}" not in keep:
            os.unlink(old)


def validate(root: Path, frames: int) -> dict[str, Any]:
    """Engines vs ONNX Runtime FP32 on sample frames: box/score error and routing agreement."""
    from edge_moe.exporters.parity import as_reference, compare, parity_images
    from edge_moe.runtime.backends.select import open_backend
    from edge_moe.runtime.plan import PlanExecutor

    bundle = load_bundle(root)
    height, _ = bundle.input_size
    images = parity_images(frames, height)
    results = {}
    for backend in ("onnxruntime", "tensorrt"):
        with open_backend(bundle, backend) as engine, PlanExecutor(bundle, engine) as executor:
            results[backend] = [executor(images[i : i + 1]) for i in range(frames)]
    return compare(as_reference(results["onnxruntime"]), results["tensorrt"], height)
