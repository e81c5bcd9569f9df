"""``edge-moe build-engine``: one TensorRT engine per bundle graph, with the TensorRT Python API.

Engines are plain serialized plans (``trtexec --loadEngine`` reads them), written as
``engines/<graph>.<key>.engine`` and recorded in the manifest with the TensorRT version, GPU,
compute capability, precision and the ONNX hash they were built from. An engine whose cache key
(ONNX hash, TensorRT, GPU, precision, flags, workspace) is unchanged is not rebuilt. The policy
(which ONNX, which flags, which layers stay FP32) lives in :mod:`edge_moe.exporters.engine_policy`.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from edge_moe.errors import UserError
from edge_moe.exporters.engine_policy import (
    Device, EngineJob, Precision, default_timing_cache, engine_metadata, pin_to_fp32, plan_builds, precision_policy,
    validation_warning,
)
from edge_moe.runtime.bundle import MANIFEST, load_bundle, manifest_text, sha256_of
from edge_moe.runtime.sinks.atomic import atomic_write

INSTALL_HINT = ("TensorRT is not installed: on a Jetson it ships with JetPack (use the system python3), "
                "on a desktop GPU `pip install 'edge-moe[tensorrt]'` (tensorrt + cuda-python)")


@dataclass
class BuildReport:
    bundle: Path
    precision: Precision
    device: Device
    built: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    validation: dict[str, Any] = field(default_factory=dict)
    warning: Optional[str] = None


def import_tensorrt():
    try:
        import tensorrt
    except ImportError:
        raise UserError(INSTALL_HINT) from None
    return tensorrt


def current_device(trt) -> Device:
    """TensorRT version, GPU name and compute capability of CUDA device 0.

    The GPU name comes from the runtime's ``gpu_name`` (the string the runtime's engine check compares with).
    """
    try:
        from edge_moe.runtime.backends.tensorrt_session import compute_capability, gpu_name
    except ImportError as error:
        if (error.name or "").startswith("tensorrt"):
            raise UserError(INSTALL_HINT) from None
        raise UserError("cuda-python is not installed: `pip install 'edge-moe[tensorrt]'` (it comes with JetPack's TensorRT wheels too)") from None
    try:
        name, capability = gpu_name(0), compute_capability(0)
    except RuntimeError as error:  # tensorrt_session._check: "CUDA error <name>"
        raise UserError(f"no usable CUDA GPU ({error}); TensorRT engines are built on the GPU that will run them") from None
    return Device(trt.__version__, name, capability)


def build_one(trt, onnx_path: Path, precision: Precision, workspace_mib: int, timing_cache: Path) -> bytes:
    """Parses one ONNX graph and returns the serialized engine; updates the timing cache file."""
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    creation = trt.NetworkDefinitionCreationFlag
    flags = 0
    if int(trt.__version__.split(".")[0]) < 10 and hasattr(creation, "EXPLICIT_BATCH"):
        flags |= 1 << int(creation.EXPLICIT_BATCH)
    if precision.strongly_typed and hasattr(creation, "STRONGLY_TYPED"):
        flags |= 1 << int(creation.STRONGLY_TYPED)  # ignored (always on) from TensorRT 11
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        first = parser.get_error(0).desc() if parser.num_errors else "unknown error"
        raise UserError(f"{onnx_path}: TensorRT's ONNX parser failed: {first}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mib << 20)
    for flag in precision.flags:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    if precision.pins_fp32_layers:
        pin_fp32_layers(trt, network)
    cache = config.create_timing_cache(timing_cache.read_bytes() if timing_cache.is_file() else b"")
    config.set_timing_cache(cache, ignore_mismatch=False)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise UserError(f"{onnx_path}: TensorRT could not build an engine (see the TensorRT log above)")
    serialized_cache = config.get_timing_cache().serialize()
    atomic_write(timing_cache, lambda tmp: tmp.write_bytes(bytes(serialized_cache)))
    return bytes(plan)


def pin_fp32_layers(trt, network) -> int:
    """Weak typing: keeps the router, softmax, TopK and decoding layers in FP32. Returns how many."""
    pinned = 0
    floating = (trt.float32, trt.float16)
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        if not pin_to_fp32(layer.name, str(layer.type).split(".")[-1]):
            continue
        if any(layer.get_output(j).dtype not in floating for j in range(layer.num_outputs)):
            continue  # index and shape tensors have no precision to pin
        layer.precision = trt.float32
        for j in range(layer.num_outputs):
            layer.set_output_type(j, trt.float32)
        pinned += 1
    return pinned


def build_engines(
    bundle_path: str | Path,
    fp16: bool = True,
    workspace_mib: int = 1024,
    timing_cache: Optional[str | Path] = None,
    version_compatible: bool = False,
    validate_frames: int = 8,
    progress: bool = True,
) -> BuildReport:
    """Builds (or reuses) the engines of every graph of a bundle and records them in its manifest."""
    from tqdm import tqdm

    if workspace_mib < 16:
        raise UserError(f"--workspace must be at least 16 MiB, got {workspace_mib}")
    bundle = load_bundle(bundle_path)
    trt = import_tensorrt()
    device = current_device(trt)
    precision = precision_policy(trt.__version__, fp16, version_compatible)
    cache_path = Path(timing_cache) if timing_cache else default_timing_cache(device)
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    jobs = plan_builds(bundle.manifest, bundle.root, device, precision, workspace_mib)
    report = BuildReport(bundle.root, precision, device)
    engines: dict[str, Any] = {}
    for job in tqdm(jobs, desc="build-engine", disable=not progress):
        if job.up_to_date:
            engines[job.graph] = bundle.engines[job.graph]
            report.reused.append(job.graph)
            continue
        start = time.perf_counter()
        plan = build_one(trt, bundle.root / job.onnx, precision, workspace_mib, cache_path)
        atomic_write(bundle.root / job.engine, lambda tmp, plan=plan: tmp.write_bytes(plan))
        engines[job.graph] = engine_metadata(job, sha256_of(bundle.root / job.engine), device, precision, workspace_mib, time.perf_counter() - start)
        report.built.append(job.graph)
    _write_engines(bundle.root, engines, jobs)
    if validate_frames:
        report.validation = validate(bundle.root, validate_frames)
        report.warning = validation_warning(report.validation)
    return report


def _write_engines(root: Path, engines: dict[str, Any], jobs: list[EngineJob]) -> None:
    """Points the manifest at the new engines (atomically), then drops engine files no longer named."""
    manifest = json.loads((root / MANIFEST).read_text())
    manifest["engines"] = engines
    atomic_write(root / MANIFEST, lambda tmp: tmp.write_text(manifest_text(manifest)))
    keep = {job.engine for job in jobs}
    for old in (root / "engines").glob("*.engine"):
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
        with PlanExecutor(bundle, open_backend(bundle, backend)) as executor:
            results[backend] = [executor(images[i : i + 1]) for i in range(frames)]
    return compare(as_reference(results["onnxruntime"]), results["tensorrt"], height)
