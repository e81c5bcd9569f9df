"""Native TensorRT backend for engines from ``edge-moe build-engine`` (TensorRT >= 8.5 tensor API).

One CUDA stream per session, pinned (page-locked) host buffers for every input and output, device
buffers allocated once: ``run`` copies inputs in, enqueues, copies outputs back, synchronises.
Engines of either flavour (the manifest says which): TensorRT (``pip install 'edge-moe[tensorrt]'``;
JetPack ships it) or TensorRT-RTX (``pip install 'edge-moe[tensorrt-rtx]'``), whose kernels are
JIT-compiled at load and kept in a runtime cache file. Both need ``cuda-python``.
"""
from __future__ import annotations

import ctypes
import importlib
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

import numpy as np

try:  # cuda-python >= 12.6 moved the bindings
    from cuda.bindings import runtime as cudart
except ImportError:  # pragma: no cover - depends on the installed cuda-python
    from cuda import cudart

from edge_moe.errors import UserError
from edge_moe.runtime.backends.base import GraphSession
from edge_moe.runtime.bundle import ENGINE_FLAVOURS, check_engine, engine_flavour
from edge_moe.runtime.sinks.atomic import atomic_write

RUNTIME_CACHE_DIR = Path.home() / ".cache" / "edge-moe" / "runtime-cache"


def tensorrt_module(flavour: str = "tensorrt") -> Any:
    """``tensorrt`` or ``tensorrt_rtx``: the module that loads engines of this flavour."""
    return importlib.import_module(ENGINE_FLAVOURS[flavour].module)


def _check(result):
    """cuda-python returns (error, *values); raise on error, return the values."""
    error, *values = result if isinstance(result, tuple) else (result,)
    if error != cudart.cudaError_t.cudaSuccess:
        name = cudart.cudaGetErrorName(error)[1]
        raise RuntimeError(f"CUDA error {name.decode() if isinstance(name, bytes) else name}")
    return values[0] if len(values) == 1 else values


@lru_cache(maxsize=None)
def _device_properties(device: int):
    return _check(cudart.cudaGetDeviceProperties(device))


def gpu_name(device: int = 0) -> str:
    """The CUDA device's name, as engines record it (``edge-moe build-engine``) and ``check_engine`` compares it.

    The one place it is read: the exporter's ``current_device`` calls this too, so the strings always match.
    Raises RuntimeError when there is no usable CUDA device.
    """
    name = _device_properties(device).name
    return (name.decode() if isinstance(name, bytes) else str(name)).rstrip("\x00")


def compute_capability(device: int = 0) -> str:
    """``"major.minor"`` of the CUDA device (e.g. ``"8.7"`` on Orin)."""
    props = _device_properties(device)
    return f"{props.major}.{props.minor}"


def check_bundle_engines(bundle) -> dict[str, Path]:
    """graph name -> engine path, after refusing engines built by another TensorRT or for another GPU."""
    trt = tensorrt_module(engine_flavour(bundle).name)
    return {name: check_engine(bundle, name, trt.__version__, gpu_name(), compute_capability()) for name in bundle.graphs}


def refuse_invalid_engine(trt: Any, runtime: Any, plan: bytes, path: Path, label: str) -> None:
    """TensorRT-RTX checks an engine's header before deserialising (version, compute capability, driver, ...)."""
    if not hasattr(runtime, "get_engine_validity"):
        return  # TensorRT proper: deserialize_cuda_engine returns None on a bad plan
    validity, diagnostics = runtime.get_engine_validity(plan)
    if validity == trt.EngineValidity.INVALID:
        reasons = [name.lower() for name, flag in trt.EngineInvalidityDiagnostics.__members__.items() if diagnostics & int(flag)]
        raise UserError(f"{path}: {label} {trt.__version__} says this engine is invalid here "
                        f"({', '.join(reasons) or 'no usable CUDA GPU or driver'}); rebuild it with `edge-moe build-engine BUNDLE`")


class _PinnedArray:
    """A numpy array over page-locked host memory (so async copies really are async)."""

    def __init__(self, shape: tuple, dtype: np.dtype):
        self.nbytes = max(1, int(np.prod(shape)) * np.dtype(dtype).itemsize)
        self.pointer = _check(cudart.cudaMallocHost(self.nbytes))
        buffer = (ctypes.c_byte * self.nbytes).from_address(int(self.pointer))
        self.array = np.frombuffer(buffer, dtype=dtype, count=int(np.prod(shape))).reshape(shape)

    def free(self) -> None:
        if self.pointer is not None:
            cudart.cudaFreeHost(self.pointer)
            self.pointer = None


class TensorRTSession(GraphSession):
    def __init__(self, path: Path, flavour: str = "tensorrt", runtime_cache: Optional[Path] = None):
        """``runtime_cache``: the file TensorRT-RTX reads its JIT-compiled kernels from and writes them to."""
        if not path.is_file():
            raise UserError(f"{path}: TensorRT engine not found; run `edge-moe build-engine BUNDLE`")
        trt, label = tensorrt_module(flavour), ENGINE_FLAVOURS[flavour].label
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        plan = path.read_bytes()
        refuse_invalid_engine(trt, runtime, plan, path, label)
        self.engine = runtime.deserialize_cuda_engine(plan)
        if self.engine is None:
            raise UserError(f"{path}: {label} {trt.__version__} cannot load this engine (built by another version "
                            "or for another GPU?); rebuild it with `edge-moe build-engine BUNDLE` on this machine")
        self.runtime_cache, self.cache_file, self.cache_saved = None, runtime_cache, False
        if runtime_cache is not None:
            config = self.engine.create_runtime_config()
            self.runtime_cache = config.create_runtime_cache()
            if runtime_cache.is_file():
                self.runtime_cache.deserialize(runtime_cache.read_bytes())
            config.set_runtime_cache(self.runtime_cache)
            self.context = self.engine.create_execution_context(config)
        else:
            self.context = self.engine.create_execution_context()
        self.stream = _check(cudart.cudaStreamCreate())
        self.input_names, self.output_names = [], []
        self.host: dict[str, _PinnedArray] = {}
        self.device: dict[str, int] = {}
        for i in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(i)
            shape = tuple(self.engine.get_tensor_shape(name))
            if any(d < 0 for d in shape):
                raise UserError(f"{path}: tensor {name} has a dynamic shape {shape}; edge-moe engines are static")
            dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(name)))
            is_input = self.engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            (self.input_names if is_input else self.output_names).append(name)
            self.host[name] = _PinnedArray(shape, dtype)
            self.device[name] = _check(cudart.cudaMalloc(self.host[name].nbytes))
            self.context.set_tensor_address(name, int(self.device[name]))

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        to_device = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        to_host = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        for name in self.input_names:
            host = self.host[name]
            np.copyto(host.array, feeds[name].reshape(host.array.shape), casting="same_kind")
            _check(cudart.cudaMemcpyAsync(self.device[name], host.pointer, host.nbytes, to_device, self.stream))
        if not self.context.execute_async_v3(self.stream):
            raise RuntimeError("TensorRT execute_async_v3 failed")
        for name in self.output_names:
            host = self.host[name]
            _check(cudart.cudaMemcpyAsync(host.pointer, self.device[name], host.nbytes, to_host, self.stream))
        _check(cudart.cudaStreamSynchronize(self.stream))
        self._save_runtime_cache()
        return {name: self.host[name].array.copy() for name in self.output_names}

    def _save_runtime_cache(self) -> None:
        """After the first run every kernel is compiled: keep them for the next start (once per session)."""
        if self.runtime_cache is None or self.cache_saved:
            return
        serialized = bytes(self.runtime_cache.serialize())
        self.cache_file.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.cache_file, lambda tmp: tmp.write_bytes(serialized))
        self.cache_saved = True

    def __del__(self) -> None:
        for name, pointer in getattr(self, "device", {}).items():
            cudart.cudaFree(pointer)
        for host in getattr(self, "host", {}).values():
            host.free()
        if getattr(self, "stream", None) is not None:
            cudart.cudaStreamDestroy(self.stream)
