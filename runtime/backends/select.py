"""Which backend runs a bundle: ``auto`` takes TensorRT engines when they were built for this
machine and TensorRT is installed, ONNX Runtime otherwise."""
from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Callable, Optional, Sequence

from edge_moe.errors import UserError
from edge_moe.runtime.backends.base import BACKENDS, GraphSession, open_session

log = logging.getLogger("edge_moe.runtime")

BACKEND_CHOICES = ("auto", *BACKENDS)
Opener = Callable[[str, Path], GraphSession]


def tensorrt_usable(bundle) -> Optional[str]:
    """None when every graph of the bundle has an engine this machine can load, else why not."""
    if not bundle.engines or set(bundle.engines) != set(bundle.graphs):
        return "the bundle has no TensorRT engines for all its graphs"
    if importlib.util.find_spec("tensorrt") is None:
        return "the tensorrt package is not installed"
    try:
        from edge_moe.runtime.backends.tensorrt_session import check_bundle_engines

        check_bundle_engines(bundle)
    except ImportError as error:
        return f"{error.name} is not installed"
    except (UserError, RuntimeError) as error:  # engine built elsewhere, or no usable CUDA device
        return str(error)
    return None


def choose_backend(bundle, backend: str) -> str:
    if backend not in BACKEND_CHOICES:
        raise UserError(f"unknown backend {backend!r}; expected one of {list(BACKEND_CHOICES)}")
    if backend != "auto":
        return backend
    why_not = tensorrt_usable(bundle)
    if why_not is None:
        return "tensorrt"
    log.info("backend auto: ONNX Runtime (%s)", why_not)
    return "onnxruntime"


def session_opener(bundle, backend: str, providers: Optional[Sequence[str]] = None, threads: int = 0) -> Opener:
    """The ``open_session(graph_name, onnx_path)`` callable the plan executor needs."""
    if backend == "onnxruntime":
        # A sparse bundle runs many small graphs in turn: spinning thread pools, one per session,
        # then fight for the cores (measured 30x slower on a busy 2-core CPU), so they sleep instead.
        spin = len(bundle.graphs) == 1
        return lambda name, path: open_session(path, "onnxruntime", providers=providers, threads=threads, spin=spin)
    if backend == "tensorrt":
        if providers:
            raise UserError("--providers applies to the onnxruntime backend only")
        try:
            from edge_moe.runtime.backends.tensorrt_session import check_bundle_engines
        except ImportError as error:
            raise UserError(f"backend 'tensorrt' needs {error.name}: pip install '{BACKENDS['tensorrt'][2]}' (JetPack ships TensorRT)") from None
        engines = check_bundle_engines(bundle)
        return lambda name, path: open_session(engines[name], "tensorrt")
    raise UserError(f"unknown backend {backend!r}; expected one of {list(BACKEND_CHOICES)}")
