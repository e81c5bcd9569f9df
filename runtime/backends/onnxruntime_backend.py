"""ONNX Runtime backend: CPU, CUDA and TensorRT execution providers, graphs run through IOBinding.

Every graph input and output is bound once to an ``OrtValue`` the backend allocated: on the CPU
provider a numpy array shared with ONNX Runtime (no copy), on the CUDA / TensorRT providers device
memory, so feature maps never come back to the host between graphs. With ``cuda_graphs`` the CUDA
provider captures each bound call once and replays it (``gpu_graph_id`` per binding).
"""
from __future__ import annotations

import itertools
import logging
from pathlib import Path
from typing import Mapping, Optional, Sequence

import numpy as np
import onnxruntime as ort

from edge_moe.errors import UserError, first_line
from edge_moe.runtime.backends.base import Backend, BoundRun, DeviceBuffer, GraphSession

log = logging.getLogger("edge_moe.runtime")

# Preferred order when the caller does not choose; only the available ones are used.
DEFAULT_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


def pick_providers(requested: Optional[Sequence[str]] = None) -> list[str]:
    available = ort.get_available_providers()
    if requested:
        missing = [p for p in requested if p not in available]
        if missing:
            raise UserError(f"ONNX Runtime providers {missing} are not available here; available: {available}")
        return list(requested)
    return [p for p in DEFAULT_PROVIDERS if p in available]


def _numpy_dtype(onnx_type: str) -> np.dtype:
    """``tensor(float)`` -> float32, ``tensor(int64)`` -> int64, ..."""
    name = onnx_type.removeprefix("tensor(").removesuffix(")")
    return np.dtype({"float": "float32", "double": "float64", "float16": "float16"}.get(name, name))


_POOL_THREADS: list[int] = []  # the size ONNX Runtime's process-wide pool was created with (it allows one per process)


def shared_thread_pool(threads: int = 0) -> bool:
    """Creates ONNX Runtime's process-wide intra-op pool (``threads``, 0: one per physical core) on first use;
    False where this ONNX Runtime cannot, and the sessions then get pools of their own.

    A bundle runs many small graphs in turn. With one pool per session, either the pools spin and starve
    each other of cores (4-5x slower, README "Runtime"), or they sleep and every parallel section of
    every graph pays a wake-up. One shared pool does neither: on the 2-core machine it took 3 ms off a
    33 ms sparse esmoe-n frame at 640 and 2 ms off 38 ms for esmoe-n-e8. The pool is the process's, as
    ONNX Runtime's environment is: the first backend sizes it, and a later different ``threads`` is logged.
    """
    if _POOL_THREADS:
        if threads != _POOL_THREADS[0]:
            log.warning("ONNX Runtime's thread pool is process-wide and already has %s threads; threads=%s ignored",
                        _POOL_THREADS[0] or "default", threads or "default")
        return True
    set_sizes = getattr(getattr(ort.capi, "_pybind_state", None), "set_global_thread_pool_sizes", None)
    if set_sizes is None:
        return False
    set_sizes(threads, 0)
    _POOL_THREADS.append(threads)
    return True


class OrtBuffer(DeviceBuffer):
    """An OrtValue: over a numpy array on the CPU (shared, no copy), in device memory on CUDA.

    ``rows(n)`` views the first n rows: a numpy view on the CPU, a device pointer on CUDA (bound by address).
    """

    def __init__(self, name: str, shape: tuple[int, ...], dtype: np.dtype, device: str, host: Optional[np.ndarray] = None,
                 pointer: Optional[int] = None):
        super().__init__(name, shape, dtype, device)
        self.host, self.value, self.pointer = host, None, pointer
        if pointer is not None:  # a view of device rows: bound by address
            return
        if device == "cpu":
            self.host = np.zeros(self.shape, self.dtype) if host is None else host
            self.value = ort.OrtValue.ortvalue_from_numpy(self.host)
        else:
            self.value = ort.OrtValue.ortvalue_from_shape_and_type(list(self.shape), self.dtype, "cuda", int(device.split(":")[1]))
            self.value.update_inplace(np.zeros(self.shape, self.dtype))
            self.pointer = self.value.data_ptr()

    def rows(self, count: int) -> "OrtBuffer":
        shape = (count, *self.shape[1:])
        if self.host is not None:
            return OrtBuffer(f"{self.name}[:{count}]", shape, self.dtype, self.device, host=self.host[:count])
        return OrtBuffer(f"{self.name}[:{count}]", shape, self.dtype, self.device, pointer=self.pointer)

    def write(self, array: np.ndarray) -> None:
        if self.host is not None:
            np.copyto(self.host, array.reshape(self.shape), casting="same_kind")
        else:
            self.value.update_inplace(np.ascontiguousarray(array, self.dtype).reshape(self.shape))

    def read(self) -> np.ndarray:
        return self.host.copy() if self.host is not None else self.value.numpy()

    def close(self) -> None:
        self.value = self.host = None


def _device_id(buffer: DeviceBuffer) -> int:
    return int(buffer.device.split(":")[1])


class OrtGraph(GraphSession):
    def __init__(self, name: str, path: Path, options: ort.SessionOptions, providers: list, cuda_graphs: bool):
        if not path.is_file():
            raise UserError(f"{path}: ONNX graph not found")
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as error:  # ORT raises its own exception types for invalid graphs
            raise UserError(f"{path}: ONNX Runtime could not load the graph: {first_line(error)}") from None
        self.name = name
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        self.input_names = [i.name for i in inputs]
        self.output_names = [o.name for o in outputs]
        self.tensors = {t.name: (tuple(t.shape), _numpy_dtype(t.type)) for t in (*inputs, *outputs)}
        self.cuda_graphs = cuda_graphs
        self._graph_ids = itertools.count()

    def bind(self, inputs: Mapping[str, DeviceBuffer], outputs: Mapping[str, DeviceBuffer]) -> BoundRun:
        binding = self.session.io_binding()
        for names, buffers, by_value, by_address in ((self.input_names, inputs, binding.bind_ortvalue_input, binding.bind_input),
                                                     (self.output_names, outputs, binding.bind_ortvalue_output, binding.bind_output)):
            for name in names:
                buffer = buffers[name]
                if buffer.value is not None:
                    by_value(name, buffer.value)
                else:  # a view of device rows (a batched bundle's expert)
                    by_address(name, "cuda", _device_id(buffer), buffer.dtype.type, list(buffer.shape), buffer.pointer)
        run_options = ort.RunOptions()
        if self.cuda_graphs:  # one captured CUDA graph per binding: its buffer addresses are fixed
            run_options.add_run_config_entry("gpu_graph_id", str(next(self._graph_ids)))
        session = self.session

        def run() -> None:
            session.run_with_iobinding(binding, run_options)

        return run

    def close(self) -> None:
        self.session = None


class OnnxRuntimeBackend(Backend):
    """ONNX Runtime for every graph of a bundle.

    ``precision="fp16"`` runs the bundle's FP16-weights graphs. ``threads``: intra-op threads (0: ORT's default).
    """

    name = "onnxruntime"

    def __init__(self, bundle, providers: Optional[Sequence[str]] = None, threads: int = 0, precision: str = "fp32",
                 cuda_graphs: bool = False):
        if precision not in ("fp32", "fp16"):
            raise UserError(f"unknown precision {precision!r}; expected 'fp32' or 'fp16'")
        self.bundle = bundle
        self.precision = precision
        self.providers = pick_providers(providers)
        on_gpu = self.providers[0] in GPU_PROVIDERS
        self.device = "cuda:0" if on_gpu else "cpu"
        self.cuda_graphs = cuda_graphs and self.providers[0] == "CUDAExecutionProvider"
        self.options = ort.SessionOptions()
        self.options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # The one place the thread-pool rule lives: every session shares the process-wide pool (shared_thread_pool).
        # Where ONNX Runtime cannot, each session has its own: multi-graph bundles then sleep between graphs
        # (spinning pools, one per session, starve the next graph of cores) and single-graph bundles spin.
        self.shared_pool = shared_thread_pool(threads)
        if self.shared_pool:
            self.options.use_per_session_threads = False
        else:
            self.options.intra_op_num_threads = threads
            if len(bundle.graphs) > 1:
                self.options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._providers_with_options = [
            (p, {"enable_cuda_graph": "1"}) if p == "CUDAExecutionProvider" and self.cuda_graphs else p for p in self.providers
        ]

    def open(self, graph: str) -> GraphSession:
        return OrtGraph(graph, self.bundle.graph_path(graph, self.precision), self.options, self._providers_with_options,
                        self.cuda_graphs)

    def copy_rows(self, source: DeviceBuffer, source_rows, target: DeviceBuffer, target_rows) -> None:
        if self.device == "cpu":
            target.host[list(target_rows)] = source.host[list(source_rows)]
            return
        from edge_moe.runtime.backends.cuda_runtime import copy_device_rows  # needs cuda-python

        copy_device_rows(source.pointer, source_rows, target.pointer, target_rows, source.row_bytes)

    def allocate(self, name: str, shape: tuple[int, ...], dtype: np.dtype) -> DeviceBuffer:
        try:
            return OrtBuffer(name, shape, dtype, self.device)
        except (RuntimeError, MemoryError) as error:
            nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
            raise UserError(f"{self.bundle.root}: cannot allocate {nbytes / 2**20:.1f} MiB for tensor {name} on "
                            f"{self.device} ({first_line(error)})") from None

