"""The two TensorRT flavours ``build-engine`` targets, as small adapters around one shared builder.

  - TensorRT proper (Jetson, data-centre GPUs): builds on the GPU that will run the engine; FP16 by
    the builder flag (8.5-10) or a strongly typed FP16 ONNX (>= 11); a timing cache; DLA on Jetson.
  - TensorRT-RTX (desktop RTX GPUs): builds ahead of time on a CPU, strongly typed only; the engine
    targets compute capabilities and is JIT-compiled on the user's GPU at first load (the runtime
    keeps a runtime cache); no timing cache (deprecated there, and it would query a GPU).

Everything else (parsing, the network checks, writing engines and the manifest) is in
:mod:`edge_moe.exporters.tensorrt_build`.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Optional

from edge_moe.errors import UserError
from edge_moe.exporters.engine_policy import (
    RTX_DEFAULT_TARGETS, Device, Precision, check_dla, default_timing_cache, pin_to_fp32, precision_policy, rtx_precision_policy,
)
from edge_moe.runtime.bundle import ENGINE_FLAVOURS, EngineFlavour
from edge_moe.runtime.sinks.atomic import atomic_write


class TensorRTTarget:
    """TensorRT proper, 8.5 to 11."""

    flavour: EngineFlavour = ENGINE_FLAVOURS["tensorrt"]

    def __init__(self, timing_cache: Optional[str | Path] = None):
        self.timing_cache = Path(timing_cache) if timing_cache else None

    def load(self) -> Any:
        return importlib.import_module(self.flavour.module)

    def device(self, trt: Any, compute_capabilities: tuple[str, ...], dla_core: Optional[int]) -> Device:
        """The GPU this process builds on (and the engine will run on)."""
        if compute_capabilities:
            raise UserError("--compute-capability applies to --target tensorrt-rtx; TensorRT builds for the GPU it runs on")
        try:
            from edge_moe.runtime.backends.tensorrt_session import compute_capability, gpu_name
        except ImportError:
            raise UserError("cuda-python is not installed: `pip install 'edge-moe[tensorrt]'` (it comes with JetPack's TensorRT wheels too)") from None
        try:
            name, capability = gpu_name(0), compute_capability(0)
        except RuntimeError as error:  # tensorrt_session._check: "CUDA error <name>"
            raise UserError(f"no usable CUDA GPU ({error}); TensorRT engines are built on the GPU that will run them "
                            "(--target tensorrt-rtx builds without one)") from None
        self.timing_cache = self.timing_cache or default_timing_cache(Device(trt.__version__, name, capability))
        return Device(trt.__version__, name, capability, self.flavour.name, (capability,), dla_core)

    def precision(self, version: str, fp16: bool, version_compatible: bool, dla_core: Optional[int]) -> Precision:
        check_dla(dla_core, True, self.flavour.label, fp16)
        return precision_policy(version, fp16, version_compatible)

    def network_flags(self, trt: Any, precision: Precision) -> int:
        creation = trt.NetworkDefinitionCreationFlag
        flags = 0
        if int(trt.__version__.split(".")[0]) < 10 and hasattr(creation, "EXPLICIT_BATCH"):
            flags |= 1 << int(creation.EXPLICIT_BATCH)
        if precision.strongly_typed and hasattr(creation, "STRONGLY_TYPED"):
            flags |= 1 << int(creation.STRONGLY_TYPED)  # ignored (always on) from TensorRT 11
        return flags

    def configure(self, trt: Any, config: Any, network: Any, precision: Precision, device: Device) -> None:
        if precision.pins_fp32_layers:
            pin_fp32_layers(trt, network)
        if device.dla_core is not None:
            config.default_device_type = trt.DeviceType.DLA
            config.DLA_core = device.dla_core
            config.set_flag(trt.BuilderFlag.GPU_FALLBACK)  # layers the DLA cannot run stay on the GPU
        self.timing_cache.parent.mkdir(parents=True, exist_ok=True)
        cache = config.create_timing_cache(self.timing_cache.read_bytes() if self.timing_cache.is_file() else b"")
        config.set_timing_cache(cache, ignore_mismatch=False)

    def save_caches(self, config: Any) -> None:
        serialized = config.get_timing_cache().serialize()
        atomic_write(self.timing_cache, lambda tmp: tmp.write_bytes(bytes(serialized)))

    def can_load_here(self, device: Device) -> bool:
        return True  # it built on this machine's GPU


class TensorRTRTXTarget:
    """TensorRT for RTX: strongly typed, CPU-only ahead-of-time builds for chosen compute capabilities."""

    flavour: EngineFlavour = ENGINE_FLAVOURS["tensorrt-rtx"]

    def __init__(self, timing_cache: Optional[str | Path] = None):
        if timing_cache:
            raise UserError("--timing-cache applies to --target tensorrt; TensorRT-RTX keeps a runtime cache at load instead")

    def load(self) -> Any:
        return importlib.import_module(self.flavour.module)

    def device(self, trt: Any, compute_capabilities: tuple[str, ...], dla_core: Optional[int]) -> Device:
        return Device(trt.__version__, None, None, self.flavour.name, compute_capabilities or RTX_DEFAULT_TARGETS)

    def precision(self, version: str, fp16: bool, version_compatible: bool, dla_core: Optional[int]) -> Precision:
        check_dla(dla_core, False, self.flavour.label, fp16)
        return rtx_precision_policy(fp16, version_compatible)

    def network_flags(self, trt: Any, precision: Precision) -> int:
        return 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)  # its only creation flag

    def configure(self, trt: Any, config: Any, network: Any, precision: Precision, device: Device) -> None:
        if device.targets != RTX_DEFAULT_TARGETS:  # else the builder's own default (8.0 and later)
            config.num_compute_capabilities = len(device.targets)
            for i, capability in enumerate(device.targets):
                config.set_compute_capability(getattr(trt.ComputeCapability, "SM" + capability.replace(".", "")), i)

    def save_caches(self, config: Any) -> None:
        pass  # the runtime cache is written where the engine is JIT-compiled (runtime/backends/tensorrt_session.py)

    def can_load_here(self, device: Device) -> bool:
        """Deserialising (layer report, validation) needs a GPU of a targeted compute capability."""
        from edge_moe.environment.cuda import gpus

        return any(gpu.compute_capability in device.targets for gpu in gpus())


TARGET_ADAPTERS = {"tensorrt": TensorRTTarget, "tensorrt-rtx": TensorRTRTXTarget}


def pin_fp32_layers(trt: Any, network: Any) -> int:
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
