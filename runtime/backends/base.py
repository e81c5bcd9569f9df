"""The backend interface: ``open_session(path, backend) -> GraphSession``."""
from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from edge_moe.errors import UserError

# backend name -> (module under edge_moe.runtime.backends, class name, pip extra that provides it)
BACKENDS: dict[str, tuple[str, str, str]] = {
    "onnxruntime": ("onnxruntime_session", "OnnxRuntimeSession", "edge-moe[onnxruntime]"),
    "tensorrt": ("tensorrt_session", "TensorRTSession", "edge-moe[tensorrt]"),
}


class GraphSession(ABC):
    """One loaded graph: named numpy inputs in, named numpy outputs out."""

    input_names: list[str]
    output_names: list[str]

    @abstractmethod
    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Runs the graph; returns every output by name."""


def open_session(path: str | Path, backend: str = "onnxruntime", **options: Any) -> GraphSession:
    """Opens ``path`` with the named backend; a missing package names the extra to install."""
    if backend not in BACKENDS:
        raise UserError(f"unknown backend {backend!r}; expected one of {sorted(BACKENDS)}")
    module_name, class_name, extra = BACKENDS[backend]
    try:
        module = importlib.import_module(f"edge_moe.runtime.backends.{module_name}")
    except ImportError as error:
        raise UserError(f"backend {backend!r} needs {error.name or 'a missing package'}: pip install '{extra}'") from None
    return getattr(module, class_name)(Path(path), **options)
