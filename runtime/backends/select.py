"""Which backend runs a bundle: ``auto`` takes TensorRT engines when they were built for this
machine and TensorRT is installed, ONNX Runtime otherwise."""
from __future__ import annotations

import importlib
import importlib.util
import logging
from typing import Optional, Sequence

from edge_moe.errors import UserError
from edge_moe.runtime.backends.base import BACKENDS, Backend
from edge_moe.runtime.bundle import engine_flavour

log = logging.getLogger("edge_moe.runtime")

BACKEND_CHOICES = ("auto", *BACKENDS)


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


def open_backend(bundle, backend: str = "onnxruntime", providers: Optional[Sequence[str]] = None, threads: int = 0,
                 precision: str = "fp32", cuda_graphs: bool = False) -> Backend:
    """The execution context for ``bundle`` on ``backend`` (a name; ``auto`` resolved by :func:`choose_backend`).

    ``threads``: ONNX Runtime intra-op threads (0: its default). ``precision="fp16"`` runs the bundle's FP16-weights
    ONNX graphs (onnxruntime; engines carry their own precision). ``cuda_graphs``: capture each graph call once and
    replay it (CUDA execution only; ignored on the CPU).
    """
    backend = choose_backend(bundle, backend)
    options: dict = {"cuda_graphs": cuda_graphs}
    if backend == "onnxruntime":
        options.update(providers=providers, threads=threads, precision=precision)
    else:
        if providers:
            raise UserError("--providers applies to the onnxruntime backend only")
        if precision != "fp32":
            raise UserError("precision applies to the onnxruntime backend only (a TensorRT engine has its own)")
    module_name, class_name, extra = BACKENDS[backend]
    if backend == "tensorrt":
        extra = engine_flavour(bundle).extra  # tensorrt or tensorrt-rtx, as the manifest says
    try:
        module = importlib.import_module(f"edge_moe.runtime.backends.{module_name}")
        return getattr(module, class_name)(bundle, **options)  # TensorRT imports its flavour's module here
    except ImportError as error:
        hint = " (JetPack ships TensorRT)" if backend == "tensorrt" else ""
        raise UserError(f"backend {backend!r} needs {error.name or 'a missing package'}: pip install '{extra}'{hint}") from None
    except RuntimeError as error:  # tensorrt_session._check: "CUDA error <name>"
        if backend != "tensorrt":
            raise
        raise UserError(f"backend 'tensorrt': no usable CUDA GPU ({error}) to run the {engine_flavour(bundle).label} engines "
                        f"of {bundle.root}") from None
