"""The pure half of ``edge-moe build-engine``: precision policy, cache keys, the build plan, metadata.

No tensorrt import here, so all of it is unit-tested on machines without a GPU.

Precision by TensorRT version:
  - 8.5 - 10.x: FP32 ONNX + ``BuilderFlag.FP16`` (weak typing) with the router, softmax, TopK and
    decoding layers pinned to FP32 under ``OBEY_PRECISION_CONSTRAINTS``.
  - >= 11: the builder flag is gone; networks are strongly typed, so the FP16 ONNX (FP16 weights,
    FP32 I/O, routing kept FP32 by the exporter) is parsed as is.
  - TensorRT-RTX (any version): strongly typed only; the FP16 ONNX for FP16, the FP32 ONNX for FP32.
    Its builder needs no GPU; the engine targets compute capabilities instead of one GPU.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from edge_moe.errors import UserError
from edge_moe.exporters.precision import keep_fp32
from edge_moe.runtime.schema import Manifest

MIN_TENSORRT = (8, 5)
VERSION_COMPATIBLE_SINCE = (8, 6)
# TensorRT layer types whose ONNX op the FP32 policy names
_LAYER_OPS = {"SOFTMAX": "Softmax", "TOPK": "TopK"}


@dataclass(frozen=True)
class Precision:
    name: str  # "fp32" | "fp16"
    mode: str  # "fp32" | "builder-flag" | "strongly-typed"
    onnx: str  # which ONNX of the bundle is parsed: "fp32" | "fp16"
    flags: tuple[str, ...]  # trt.BuilderFlag names to set

    @property
    def strongly_typed(self) -> bool:
        return self.mode == "strongly-typed"

    @property
    def pins_fp32_layers(self) -> bool:
        return self.mode == "builder-flag"


def parse_version(version: str) -> tuple[int, int]:
    match = re.match(r"(\d+)\.(\d+)", version)
    if not match:
        raise UserError(f"cannot read the TensorRT version {version!r}")
    return int(match.group(1)), int(match.group(2))


def precision_policy(tensorrt_version: str, fp16: bool, version_compatible: bool = False) -> Precision:
    """How to build for ``tensorrt_version``; a UserError for versions edge-moe does not support."""
    version = parse_version(tensorrt_version)
    if version < MIN_TENSORRT:
        raise UserError(f"TensorRT {tensorrt_version} is too old; edge-moe needs TensorRT >= 8.5 (JetPack >= 5.1)")
    extra: tuple[str, ...] = ()
    if version_compatible:
        if version < VERSION_COMPATIBLE_SINCE:
            raise UserError(f"--version-compatible needs TensorRT >= 8.6, this is {tensorrt_version}")
        extra = ("VERSION_COMPATIBLE",)
    if not fp16:
        return Precision("fp32", "fp32", "fp32", extra)
    if version[0] >= 11:
        return Precision("fp16", "strongly-typed", "fp16", extra)
    return Precision("fp16", "builder-flag", "fp32", ("FP16", "OBEY_PRECISION_CONSTRAINTS", *extra))


def rtx_precision_policy(fp16: bool, version_compatible: bool = False) -> Precision:
    """TensorRT-RTX networks are strongly typed: the precision is the parsed ONNX's."""
    extra = ("VERSION_COMPATIBLE",) if version_compatible else ()
    return Precision("fp16", "strongly-typed", "fp16", extra) if fp16 else Precision("fp32", "strongly-typed", "fp32", extra)


TARGETS = ("auto", "tensorrt", "tensorrt-rtx")
# Compute capabilities TensorRT-RTX 1.x builds for (its ComputeCapability enum). With none asked for, its engines run
# on 8.0, 8.6, 8.9, 12.0 "and later" (NVIDIA's CPU-only AOT docs); Turing (7.5) only when asked, as it costs speed.
RTX_COMPUTE_CAPABILITIES = ("7.5", "8.0", "8.6", "8.9", "12.0", "12.1")
RTX_DEFAULT_TARGETS = ("8.0", "8.6", "8.9", "12.0", "12.1")


# Which GPUs a compute capability means (NVIDIA's TensorRT-RTX support matrix and CUDA GPU list)
GPU_FAMILIES = {"7.5": "Turing (RTX 20, T4)", "8.0": "Ampere A100/A30", "8.6": "Ampere (RTX 30, A-series)",
                "8.9": "Ada (RTX 40, L4, L40)", "12.0": "Blackwell (RTX 50)", "12.1": "Blackwell GB10 (DGX Spark)"}


def runs_on(targets: tuple[str, ...] | list[str]) -> str:
    """``("8.6", "8.9")`` -> "sm 8.6 Ampere (RTX 30, A-series), sm 8.9 Ada (RTX 40, L4, L40)"."""
    return ", ".join(f"sm {cc} {GPU_FAMILIES.get(cc, '')}".rstrip() for cc in targets)


def choose_target(target: str, tensorrt_installed: bool, cuda_gpu: bool) -> str:
    """``auto``: TensorRT proper where it can build (it needs the GPU that will run the engine), else TensorRT-RTX."""
    if target not in TARGETS:
        raise UserError(f"--target must be one of {list(TARGETS)}, got {target!r}")
    if target != "auto":
        return target
    return "tensorrt" if tensorrt_installed and cuda_gpu else "tensorrt-rtx"


def parse_compute_capabilities(text: Optional[str]) -> tuple[str, ...]:
    """``"8.6,8.9,12.0"`` -> ("8.6", "8.9", "12.0"); () for None (the builder's default targets)."""
    if text is None:
        return ()
    asked = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [cc for cc in asked if cc not in RTX_COMPUTE_CAPABILITIES]
    if unknown or not asked:
        raise UserError(f"--compute-capability {text!r}: TensorRT-RTX builds for {', '.join(RTX_COMPUTE_CAPABILITIES)} "
                        f"(comma-separated), not {', '.join(unknown) or 'nothing'}")
    return asked


def check_dla(core: Optional[int], has_dla: bool, flavour: str, fp16: bool = True) -> None:
    """``--dla CORE``: Jetson AGX Orin / Xavier have DLA cores 0 and 1, which run FP16 (or INT8); TensorRT-RTX has no DLA."""
    if core is None:
        return
    if not has_dla:
        raise UserError(f"--dla {core}: {flavour} has no DLA; DLA engines are built with --target tensorrt on a Jetson AGX Orin or Xavier")
    if core not in (0, 1):
        raise UserError(f"--dla must be a DLA core, 0 or 1, got {core}")
    if not fp16:
        raise UserError(f"--dla {core} with --no-fp16: the DLA runs FP16 or INT8 only; drop --no-fp16")


def pin_to_fp32(layer_name: str, layer_type: str) -> bool:
    """Whether a TensorRT layer (named after its ONNX node by the parser) must stay FP32."""
    if layer_name.startswith(("(Unnamed Layer", "ONNXTRT_")):
        return False  # parser-internal constants, casts, broadcasts and shuffles: no ONNX node of their own
    return keep_fp32(layer_name, _LAYER_OPS.get(layer_type, layer_type))


@dataclass(frozen=True)
class Device:
    """What an engine is built for: TensorRT proper builds for the GPU it runs on (``gpu``, ``compute_capability``);
    TensorRT-RTX builds ahead of time for compute capabilities (``targets``), with no GPU needed."""

    tensorrt: str
    gpu: Optional[str]
    compute_capability: Optional[str]
    flavour: str = "tensorrt"
    targets: tuple[str, ...] = ()
    dla_core: Optional[int] = None


def cache_key(onnx_sha256: str, device: Device, precision: Precision, workspace_mib: int) -> str:
    """Identifies an engine: a rebuild happens only when one of these inputs changes."""
    record = {
        "onnx_sha256": onnx_sha256,
        "tensorrt": device.tensorrt,
        "gpu": device.gpu,
        "compute_capability": device.compute_capability,
        "precision": precision.name,
        "mode": precision.mode,
        "flags": sorted(precision.flags),
        "workspace_mib": workspace_mib,
        "flavour": device.flavour,
        "targets": list(device.targets),
        "dla_core": device.dla_core,
    }
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class EngineJob:
    graph: str
    onnx: str  # path inside the bundle
    onnx_sha256: str
    engine: str  # path inside the bundle (content-addressed by the cache key)
    key: str
    up_to_date: bool


def plan_builds(manifest: Manifest, root: Path, device: Device, precision: Precision, workspace_mib: int) -> list[EngineJob]:
    """One job per graph; ``up_to_date`` when the manifest already has an engine with this key."""
    jobs = []
    for name, entry in manifest.graphs.items():
        source = entry.fp16 if precision.onnx == "fp16" else entry
        key = cache_key(source.sha256, device, precision, workspace_mib)
        existing = manifest.engines.get(name)
        current = existing is not None and existing.get("cache_key") == key and (root / existing.file).is_file()
        engine = existing.file if current else f"engines/{name}.{key[:12]}.engine"
        jobs.append(EngineJob(name, source.file, source.sha256, engine, key, current))
    return jobs


def engine_metadata(
    job: EngineJob, engine_sha256: str, device: Device, precision: Precision, workspace_mib: int, build_seconds: float,
    built_at: Optional[datetime] = None,
) -> dict[str, Any]:
    """The manifest entry of one engine (what the runtime checks before loading it)."""
    return {
        "file": job.engine,
        "sha256": engine_sha256,
        "flavour": device.flavour,
        "tensorrt": device.tensorrt,
        "gpu": device.gpu,
        "compute_capability": device.compute_capability,
        "compute_capabilities": list(device.targets),
        "dla_core": device.dla_core,
        "precision": precision.name,
        "mode": precision.mode,
        "flags": list(precision.flags),
        "version_compatible": "VERSION_COMPATIBLE" in precision.flags,
        "hardware_compatible": False,
        "onnx": job.onnx,
        "onnx_sha256": job.onnx_sha256,
        "workspace_mib": workspace_mib,
        "built_at": (built_at or datetime.now(timezone.utc)).isoformat(timespec="seconds"),
        "build_seconds": round(build_seconds, 2),
        "cache_key": job.key,
    }


def default_timing_cache(device: Device) -> Path:
    """Per user, TensorRT version and GPU: a timing cache is only valid where it was measured."""
    gpu = re.sub(r"[^A-Za-z0-9]+", "-", device.gpu).strip("-").lower()
    return Path.home() / ".cache" / "edge-moe" / f"timing-trt{device.tensorrt}-{gpu}-sm{device.compute_capability.replace('.', '')}.cache"


ROUTING_AGREEMENT_WARNING = 0.99


def validation_warning(figures: dict[str, Any]) -> Optional[str]:
    """A warning line when FP16 engines pick other experts than FP32 ONNX Runtime too often."""
    agreement = figures["routing_agreement"]
    if agreement < ROUTING_AGREEMENT_WARNING:
        return (f"warning: FP16 engines agree with FP32 ONNX Runtime on {agreement:.1%} of routing decisions "
                f"(< {ROUTING_AGREEMENT_WARNING:.0%}); consider --no-fp16 or check the router's calibration")
    return None
