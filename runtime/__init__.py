"""edge_moe.runtime: torch-free inference on cameras, files and streams (numpy + OpenCV + a backend).

Nothing here may import torch, directly or through another edge_moe package: on a Jetson the
runtime is installed without it. Backends (onnxruntime, tensorrt) are imported lazily, and so are
the names below, so ``import edge_moe.runtime`` stays cheap::

    from edge_moe.runtime import Detector
    det = Detector("bundle_dir")
    for result in det.stream("video.mp4"):
        ...
"""
from importlib import import_module

# public name -> module under edge_moe.runtime
_EXPORTS = {
    "Detector": "detector", "Stream": "detector", "StreamHandle": "detector", "BundleRunner": "detector", "open_runner": "detector",
    "Classifier": "classifier", "Classifications": "results",
    "Detections": "results", "FrameResult": "results", "ExpertActivation": "results", "Latency": "results",
    "PushSource": "sources", "SourceOptions": "sources", "RetryPolicy": "sources", "open_source": "sources",
    "RunStats": "meters", "format_summary": "meters",
    "run_to_folder": "report", "RunOutputs": "report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f"edge_moe.runtime.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'edge_moe.runtime' has no attribute {name!r}")
