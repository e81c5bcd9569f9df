"""edge_moe.exporters: ONNX lowerings, export checks, the TensorRT builder and the bundle writer.

Public API (imported lazily, so ``import edge_moe.exporters`` stays cheap)::

    export_bundle(model_or_weights, out, imgsz=None, routing="sparse", opset=None, ...) -> Path
    export_with_report(...) -> ExportReport            # the same, with checks and parity figures
    benchmark(source, backends, routings, imgsz, iters) -> BenchReport
    build_engines(bundle, fp16=True, workspace_mib=1024, timing_cache=None, ...) -> BuildReport
"""
from __future__ import annotations

import importlib
from typing import Any

_API = {
    "export_bundle": "edge_moe.exporters.export",
    "export_with_report": "edge_moe.exporters.export",
    "ExportReport": "edge_moe.exporters.export",
    "benchmark": "edge_moe.exporters.bench",
    "BenchReport": "edge_moe.exporters.bench",
    "build_engines": "edge_moe.exporters.tensorrt_build",
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'edge_moe.exporters' has no attribute {name!r}")
