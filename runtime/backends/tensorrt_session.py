"""Native TensorRT backend for engines from ``edge-moe build-engine`` (TensorRT >= 8.5 tensor API).

One CUDA stream for every graph of the bundle. Buffers are device memory allocated once by the
executor's memory plan; a bound graph is an execution context whose tensor addresses point at those
buffers, so the output of one engine is the input of the next with no copy, and ``execute_async_v3``
only queues work. Host copies happen only in ``DeviceBuffer.write`` / ``read`` (through page-locked
staging memory, so they really are asynchronous), and ``read`` is the one place that synchronises.
With ``cuda_graphs`` each bound call is captured once into a CUDA graph and replayed, taking the
per-kernel launch overhead away.

Engines of either flavour (the manifest says which): TensorRT (``pip install 'edge-moe[tensorrt]'``;
JetPack ships it) or TensorRT-RTX (``pip install 'edge-moe[tensorrt-rtx]'``), whose kernels are
JIT-compiled at load and kept in a runtime cache file. Both need ``cuda-python``.
"""
from __future__ import annotations

import ctypes
import importlib
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import numpy as np

from edge_moe.errors import UserError
from edge_moe.runtime.backends.base import Backend, BoundRun, DeviceBuffer, GraphSession
from edge_moe.runtime.backends.cuda_runtime import CudaEventTimer, check_cuda, copy_device_rows, cudart
from edge_moe.runtime.backends.tensorrt_contexts import activation_bytes, context_on_shared_memory
from edge_moe.runtime.bundle import ENGINE_FLAVOURS, check_engine, engine_flavour
from edge_moe.runtime.sinks.atomic import atomic_write

log = logging.getLogger("edge_moe.runtime")
RUNTIME_CACHE_DIR = Path.home() / ".cache" / "edge-moe" / "runtime-cache"


def tensorrt_module(flavour: str = "tensorrt") -> Any:
    """``tensorrt`` or ``tensorrt_rtx``: the module that loads engines of this flavour."""
    return importlib.import_module(ENGINE_FLAVOURS[flavour].module)


@lru_cache(maxsize=None)
def _device_properties(device: int):
    return check_cuda(cudart.cudaGetDeviceProperties(device))


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
    for name in bundle.graphs:
        bundle.engine_path(name)  # a graph without an engine: say to build them before asking for TensorRT
    trt = tensorrt_module(engine_flavour(bundle).name)
    return {name: check_engine(bundle, name, trt.__version__, gpu_name(), compute_capability()) for name in bundle.graphs}


def load_engine(path: Path, flavour: str = "tensorrt"):
    """Deserialises an engine file; TensorRT-RTX first checks its header (version, compute capability, driver, ...)."""
    if not path.is_file():
        raise UserError(f"{path}: TensorRT engine not found; run `edge-moe build-engine BUNDLE`")
    trt, label = tensorrt_module(flavour), ENGINE_FLAVOURS[flavour].label
    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    plan = path.read_bytes()
    if hasattr(runtime, "get_engine_validity"):  # TensorRT proper: deserialize_cuda_engine returns None on a bad plan
        validity, diagnostics = runtime.get_engine_validity(plan)
        if validity == trt.EngineValidity.INVALID:
            reasons = [name.lower() for name, flag in trt.EngineInvalidityDiagnostics.__members__.items() if diagnostics & int(flag)]
            raise UserError(f"{path}: {label} {trt.__version__} says this engine is invalid here "
                            f"({', '.join(reasons) or 'no usable CUDA GPU or driver'}); rebuild it with `edge-moe build-engine BUNDLE`")
    engine = runtime.deserialize_cuda_engine(plan)
    if engine is None:
        raise UserError(f"{path}: {label} {trt.__version__} cannot load this engine (built by another version "
                        "or for another GPU?); rebuild it with `edge-moe build-engine BUNDLE` on this machine")
    return engine


class CudaBuffer(DeviceBuffer):
    """Device memory plus a page-locked host staging area of the same size, copies on the backend's stream."""

    def __init__(self, name: str, shape: tuple[int, ...], dtype: np.dtype, stream):
        super().__init__(name, shape, dtype, "cuda:0")
        self.stream = stream
        size = max(self.nbytes, 1)
        self.pointer = check_cuda(cudart.cudaMalloc(size))
        check_cuda(cudart.cudaMemsetAsync(self.pointer, 0, size, stream))
        self.staging = check_cuda(cudart.cudaMallocHost(size))
        raw = (ctypes.c_byte * size).from_address(int(self.staging))
        self.host = np.frombuffer(raw, dtype=self.dtype, count=int(np.prod(self.shape))).reshape(self.shape)

    def write(self, array: np.ndarray) -> None:
        # The previous upload from the staging area must be done before it is overwritten.
        check_cuda(cudart.cudaStreamSynchronize(self.stream))
        np.copyto(self.host, array.reshape(self.shape), casting="same_kind")
        check_cuda(cudart.cudaMemcpyAsync(self.pointer, self.staging, self.nbytes, cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, self.stream))

    def read(self) -> np.ndarray:
        check_cuda(cudart.cudaMemcpyAsync(self.staging, self.pointer, self.nbytes, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, self.stream))
        check_cuda(cudart.cudaStreamSynchronize(self.stream))
        return self.host.copy()

    def rows(self, count: int) -> DeviceBuffer:
        return DeviceRows(self, count)

    def close(self) -> None:
        if self.pointer is not None:
            cudart.cudaFree(self.pointer)
            cudart.cudaFreeHost(self.staging)
            self.pointer = self.staging = None


class DeviceRows(DeviceBuffer):
    """The first ``count`` rows of a device buffer, for binding only (the buffer it views owns the memory)."""

    def __init__(self, whole: DeviceBuffer, count: int):
        super().__init__(f"{whole.name}[:{count}]", (count, *whole.shape[1:]), whole.dtype, whole.device)
        self.pointer = whole.pointer

    def write(self, array: np.ndarray) -> None:
        raise RuntimeError(f"{self.name}: a view of rows is bound to graphs, never written from the host")

    def read(self) -> np.ndarray:
        raise RuntimeError(f"{self.name}: a view of rows is bound to graphs, never read to the host")


class _CudaGraph:
    """A bound engine call captured once on the stream, then replayed with one launch."""

    def __init__(self, enqueue, stream):
        enqueue()  # TensorRT finishes its lazy setup on the first enqueue; it must not happen while capturing
        check_cuda(cudart.cudaStreamBeginCapture(stream, cudart.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal))
        enqueue()
        self.graph = check_cuda(cudart.cudaStreamEndCapture(stream))
        self.exec = check_cuda(cudart.cudaGraphInstantiate(self.graph, 0))
        self.stream = stream

    def launch(self) -> None:
        check_cuda(cudart.cudaGraphLaunch(self.exec, self.stream))

    def close(self) -> None:
        cudart.cudaGraphExecDestroy(self.exec)
        cudart.cudaGraphDestroy(self.graph)


class TensorRTGraph(GraphSession):
    """One engine; each binding gets its own execution context (addresses are per context), all of them on the
    backend's shared activation scratch (``scratch() -> (pointer, bytes)``, :mod:`.tensorrt_contexts`).

    ``runtime_cache``: the file TensorRT-RTX reads its JIT-compiled kernels from and writes them back to.
    """

    def __init__(self, name: str, path: Path, flavour: str, stream, cuda_graphs: bool, scratch: Callable[[], tuple[int, int]],
                 runtime_cache: Optional[Path] = None):
        self.engine = load_engine(path, flavour)
        self.scratch = scratch
        self.trt = tensorrt_module(flavour)
        self.name, self.stream, self.cuda_graphs = name, stream, cuda_graphs
        self.input_names, self.output_names, self.tensors = [], [], {}
        for i in range(self.engine.num_io_tensors):
            tensor = self.engine.get_tensor_name(i)
            is_input = self.engine.get_tensor_mode(tensor) == self.trt.TensorIOMode.INPUT
            (self.input_names if is_input else self.output_names).append(tensor)
            shape = tuple(self.engine.get_tensor_shape(tensor))
            self.tensors[tensor] = (shape, np.dtype(self.trt.nptype(self.engine.get_tensor_dtype(tensor))))
        self.cache_file, self.runtime_config, self.runtime_cache = runtime_cache, None, None
        if runtime_cache is not None:
            self.runtime_config = self.engine.create_runtime_config()
            self.runtime_cache = self.runtime_config.create_runtime_cache()
            if runtime_cache.is_file():
                self.runtime_cache.deserialize(runtime_cache.read_bytes())
            self.runtime_config.set_runtime_cache(self.runtime_cache)
        self._contexts: list = []
        self._graphs: list[_CudaGraph] = []

    def save_runtime_cache(self) -> None:
        """Keeps the JIT-compiled kernels for the next start (TensorRT-RTX)."""
        if self.runtime_cache is not None and self.engine is not None:
            serialized = bytes(self.runtime_cache.serialize())
            self.cache_file.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self.cache_file, lambda tmp: tmp.write_bytes(serialized))

    def bind(self, inputs: Mapping[str, DeviceBuffer], outputs: Mapping[str, DeviceBuffer]) -> BoundRun:
        context = context_on_shared_memory(self.trt, self.engine, self.runtime_config, self.scratch)
        self._contexts.append(context)
        for tensor in self.input_names:
            if -1 in self.tensors[tensor][0]:  # a batched bundle's expert: this binding's row count
                context.set_input_shape(tensor, inputs[tensor].shape)
            context.set_tensor_address(tensor, int(inputs[tensor].pointer))
        for tensor in self.output_names:
            context.set_tensor_address(tensor, int(outputs[tensor].pointer))
        stream = self.stream

        def enqueue() -> None:
            if not context.execute_async_v3(stream):
                raise RuntimeError(f"TensorRT execute_async_v3 failed for graph {self.name}")

        if not self.cuda_graphs:
            return enqueue
        graph: list[_CudaGraph] = []

        def replay() -> None:
            if not graph:
                try:
                    graph.append(_CudaGraph(enqueue, stream))
                    self._graphs.append(graph[0])
                except RuntimeError as error:  # capture unsupported for this engine: plain enqueues
                    log.warning("graph %s: CUDA graph capture failed (%s); running without it", self.name, error)
                    graph.append(None)
            if graph[0] is None:
                enqueue()
            else:
                graph[0].launch()

        return replay

    def close(self) -> None:
        self.save_runtime_cache()
        for graph in self._graphs:
            graph.close()
        self._graphs.clear()
        self._contexts.clear()
        self.engine = None


class TensorRTBackend(Backend):
    """Every engine of a bundle on one CUDA stream, after checking they were built for this machine."""

    name = "tensorrt"
    device = "cuda:0"

    def __init__(self, bundle, cuda_graphs: bool = False):
        self.bundle = bundle
        self.flavour = engine_flavour(bundle)
        self.engines = check_bundle_engines(bundle)
        self.stream = check_cuda(cudart.cudaStreamCreate())
        self.events = CudaEventTimer(self.stream)
        self.cuda_graphs = cuda_graphs
        self._sessions: list[TensorRTGraph] = []
        self._scratch: Optional[tuple[int, int]] = None  # (pointer, bytes): every context's activations

    def open(self, graph: str) -> GraphSession:
        if self._scratch is not None:
            raise RuntimeError(f"graph {graph}: open every graph before binding any (the contexts' shared scratch is sized by then)")
        cache = RUNTIME_CACHE_DIR / f"{self.bundle.engines[graph].sha256[:24]}.bin" if self.flavour.runtime_cache else None
        session = TensorRTGraph(graph, self.engines[graph], self.flavour.name, self.stream, self.cuda_graphs, self.scratch, cache)
        self._sessions.append(session)
        return session

    def scratch(self) -> tuple[int, int]:
        """The activation memory every execution context shares, as large as the largest engine needs (made at the first bind)."""
        if self._scratch is None:
            size = max(max((activation_bytes(s.engine) for s in self._sessions), default=0), 1)
            try:
                self._scratch = (check_cuda(cudart.cudaMalloc(size)), size)
            except RuntimeError as error:
                raise UserError(f"{self.bundle.root}: cannot allocate {size / 2**20:.1f} MiB of GPU memory for the engines' "
                                f"activations ({error})") from None
        return self._scratch

    def allocate(self, name: str, shape: tuple[int, ...], dtype: np.dtype) -> DeviceBuffer:
        try:
            return CudaBuffer(name, shape, dtype, self.stream)
        except RuntimeError as error:
            nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
            raise UserError(f"{self.bundle.root}: cannot allocate {nbytes / 2**20:.1f} MiB of GPU memory for tensor {name} ({error})") from None

    def timer(self) -> CudaEventTimer:
        return self.events

    def copy_rows(self, source: DeviceBuffer, source_rows, target: DeviceBuffer, target_rows) -> None:
        copy_device_rows(int(source.pointer), source_rows, int(target.pointer), target_rows, source.row_bytes, self.stream)

    def synchronize(self) -> None:
        check_cuda(cudart.cudaStreamSynchronize(self.stream))

    def warmed_up(self) -> None:
        """After the first frames every kernel is compiled: keep TensorRT-RTX's runtime caches for the next start."""
        for session in self._sessions:
            session.save_runtime_cache()

    def close(self) -> None:
        if self.stream is None:
            return
        self.synchronize()
        for session in self._sessions:
            session.close()
        if self._scratch is not None:
            cudart.cudaFree(self._scratch[0])
            self._scratch = None
        self.events.close()
        cudart.cudaStreamDestroy(self.stream)
        self.stream = None
