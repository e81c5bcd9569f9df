"""Which backend runs a bundle: ``auto`` takes TensorRT engines when they were built for this
machine and TensorRT is installed, ONNX Runtime otherwise."""
from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Callable, Optional, Sequence

from edge_moe.errors import UserError
from edge_moe.runtime.backends.base import BACKENDS, GraphSession, open_session
from edge_moe.runtime.bundle import engine_flavour

log = logging.getLogger("edge_moe.runtime")

BACKEND_CHOICES = ("auto", *BACKENDS)
Opener = Callable[[str, Path], GraphSession]


def tensorrt_usable(bundle) -> Optional[str]:
    """None when every graph of the bundle has an engine this machine can load, else why not."""
    if not bundle.engines or set(bundle.engines) != set(bundle.graphs):
        return "the bundle has no TensorRT engines for all its graphs"
    try:
        module = engine_flavour(bundle).module
        if importlib.util.find_spec(module) is None:
            return f"the {module} package is not installed"
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


def session_opener(bundle, backend: str = "onnxruntime", providers: Optional[Sequence[str]] = None, threads: int = 0,
                   precision: str = "fp32") -> Opener:
    """The ``open_session(graph_name, onnx_path)`` callable the plan executor needs.

    ``threads``: ONNX Runtime intra-op threads (0: its default). ``precision="fp16"`` runs the bundle's FP16-weights
    ONNX graphs instead of the FP32 ones (onnxruntime only; engines carry their own precision).
    """
    if precision not in ("fp32", "fp16"):
        raise UserError(f"unknown precision {precision!r}; expected 'fp32' or 'fp16'")
    if backend == "onnxruntime":
        # The one place the thread-pool rule lives. A multi-graph (sparse) bundle runs many small graphs in turn, and
        # ORT's default spinning pools, one per session, then starve the next graph of cores (measured 4-5x slower,
        # README "Runtime"); so multi-graph bundles get sleeping pools and single-graph bundles keep spinning ones.
        spin = len(bundle.graphs) == 1

        def open_onnx(name: str, path: Path) -> GraphSession:
            graph = path if precision == "fp32" else bundle.graph_path(name, precision)
            return open_session(graph, "onnxruntime", providers=providers, threads=threads, spin=spin)

        return open_onnx
    if backend == "tensorrt":
        if providers:
            raise UserError("--providers applies to the onnxruntime backend only")
        if precision != "fp32":
            raise UserError("precision applies to the onnxruntime backend only (a TensorRT engine has its own)")
        flavour = engine_flavour(bundle)
        try:
            from edge_moe.runtime.backends.tensorrt_session import RUNTIME_CACHE_DIR, check_bundle_engines

            engines = check_bundle_engines(bundle)
        except ImportError as error:
            raise UserError(f"backend 'tensorrt' needs {error.name}: pip install '{flavour.extra}' (JetPack ships TensorRT)") from None
        except RuntimeError as error:  # tensorrt_session._check: "CUDA error <name>"
            raise UserError(f"backend 'tensorrt': no usable CUDA GPU ({error}) to run the {flavour.label} engines of {bundle.root}") from None

        def open_engine(name: str, path: Path) -> GraphSession:
            cache = RUNTIME_CACHE_DIR / f"{bundle.engines[name]['sha256'][:24]}.bin" if flavour.runtime_cache else None
            return open_session(engines[name], "tensorrt", flavour=flavour.name, runtime_cache=cache)

        return open_engine
    raise UserError(f"unknown backend {backend!r}; expected one of {list(BACKEND_CHOICES)}")
