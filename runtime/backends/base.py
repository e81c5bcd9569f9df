"""The backend interface: one execution context per bundle, graphs bound once to its buffers.

A :class:`Backend` is what the plan executor runs on: it owns the device (host memory for CPU
execution, GPU memory and one CUDA stream otherwise), allocates :class:`DeviceBuffer` s and opens the
bundle's graphs as :class:`GraphSession` s. A session is *bound* once to the buffers that hold its
inputs and outputs; the returned call runs the graph on them with no allocation and no copy, so the
output buffer of one graph is the input of the next. Numpy appears only where the executor writes
or reads a buffer (the frame in; routing, boxes and scores out), and those are the bytes it counts.

Backends are chosen by name and imported lazily (``edge_moe.runtime.backends.select``).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable, Mapping, Optional, Protocol, Sequence

import numpy as np

from edge_moe.errors import UserError

# backend name -> (module under edge_moe.runtime.backends, class name, pip extra that provides it)
BACKENDS: dict[str, tuple[str, str, str]] = {
    "onnxruntime": ("onnxruntime_backend", "OnnxRuntimeBackend", "edge-moe[onnxruntime]"),
    "tensorrt": ("tensorrt_session", "TensorRTBackend", "edge-moe[tensorrt]"),
}

BoundRun = Callable[[], None]


class DeviceBuffer(ABC):
    """A tensor of fixed shape and dtype owned by a backend, on its device.

    ``write`` and ``read`` are the only ways data crosses between host numpy and the backend.
    """

    def __init__(self, name: str, shape: tuple[int, ...], dtype: np.dtype, device: str):
        self.name = name
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.device = device  # "cpu" | "cuda:N"
        self.nbytes = int(np.prod(self.shape)) * self.dtype.itemsize

    @abstractmethod
    def write(self, array: np.ndarray) -> None:
        """Copies a host array of this buffer's shape into it."""

    @abstractmethod
    def read(self) -> np.ndarray:
        """A host copy of the buffer (waits for the work that produces it)."""

    @property
    def row_bytes(self) -> int:
        """Bytes of one image's slice (the buffers are batch-major)."""
        return self.nbytes // self.shape[0]

    def rows(self, count: int) -> "DeviceBuffer":
        """A buffer over the first ``count`` rows of this one (same memory, nothing copied): what a batched
        bundle's expert reads and writes when ``count`` images chose it."""
        raise UserError(f"{type(self).__name__} cannot view part of a batch; export the bundle with --batch 1")

    def close(self) -> None:
        """Frees the memory now (not at garbage collection)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {list(self.shape)}, {self.dtype}, {self.device})"


def _is_size(dim) -> bool:
    return isinstance(dim, (int, np.integer)) and dim > 0


def same_shape(graph_shape: Sequence, shape: Sequence[int]) -> bool:
    """A buffer's shape against a graph's: a dynamic graph dimension (a name, None or -1) matches any size."""
    return len(graph_shape) == len(shape) and all(not _is_size(g) or int(g) == d for g, d in zip(graph_shape, shape))


class DeviceTimer(Protocol):
    """Brackets queued work: ``start`` and ``stop`` are queued with it, ``elapsed_ms`` waits for ``stop``."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def elapsed_ms(self) -> float: ...


class GraphSession(ABC):
    """One loaded graph (ONNX or TensorRT engine).

    ``tensors`` holds the shape and dtype the graph file itself declares for each input and output,
    so a manifest that disagrees with its graphs is caught at load (:meth:`check`), not mid-frame.
    """

    name: str
    input_names: list[str]
    output_names: list[str]
    tensors: dict[str, tuple[tuple[int, ...], np.dtype]]

    def check(self, buffers: Mapping[str, DeviceBuffer], where: str) -> None:
        """A UserError naming the graph and tensor when a buffer's shape or dtype differs from the graph's."""
        for name in (*self.input_names, *self.output_names):
            if name not in buffers:
                raise UserError(f"{where}: graph {self.name} has tensor {name}, which the manifest does not declare; re-export the bundle")
            shape, dtype = self.tensors[name]
            buffer = buffers[name]
            if not same_shape(shape, buffer.shape) or buffer.dtype != np.dtype(dtype):
                raise UserError(f"{where}: graph {self.name} tensor {name} is {list(shape)} {np.dtype(dtype)} in the graph file, "
                                f"but the manifest says {list(buffer.shape)} {buffer.dtype}; re-export the bundle")

    @abstractmethod
    def bind(self, inputs: Mapping[str, DeviceBuffer], outputs: Mapping[str, DeviceBuffer]) -> BoundRun:
        """Binds the graph's inputs and outputs (by graph tensor name) to buffers; returns the call that runs it."""

    def close(self) -> None:
        """Releases the session's resources."""


class Backend(ABC):
    """The execution context every graph of one bundle shares (device, stream, allocator)."""

    name: str
    device: str  # where the buffers live: "cpu" or "cuda:N"

    @abstractmethod
    def open(self, graph: str) -> GraphSession:
        """Loads graph ``graph`` of the bundle (its ONNX file or engine)."""

    @abstractmethod
    def allocate(self, name: str, shape: tuple[int, ...], dtype: np.dtype) -> DeviceBuffer:
        """A zero-filled buffer on this backend's device."""

    def copy_rows(self, source: DeviceBuffer, source_rows: Sequence[int], target: DeviceBuffer, target_rows: Sequence[int]) -> None:
        """Copies row ``source_rows[i]`` of ``source`` to row ``target_rows[i]`` of ``target`` on the device (in queue
        order, nothing through the host): how a batched sparse plan groups images by expert and scatters them back."""
        raise UserError(f"the {self.name} backend cannot run batched sparse bundles; export the bundle with --batch 1")

    def timer(self) -> Optional["DeviceTimer"]:
        """A device-side clock for the executor's calls (CUDA events), or None where the host clock is the device's."""
        return None

    def synchronize(self) -> None:
        """Waits until all queued work is done (a no-op for synchronous backends)."""

    def warmed_up(self) -> None:
        """Called after the warm-up frames: a backend may keep what it compiled (TensorRT-RTX's runtime cache)."""

    def close(self) -> None:
        """Releases the device resources (stream, CUDA graphs) the backend holds."""

    def __enter__(self) -> "Backend":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
