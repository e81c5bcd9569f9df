"""Where results go: JSONL log, annotated video, a window, the expert-activation plot.

The names below load lazily (like ``edge_moe.runtime``), so importing ``edge_moe.runtime.sinks.atomic``, which
``edge_moe.checkpoint`` and the exporters use, does not pull OpenCV in.
"""
from importlib import import_module

# public name -> module under edge_moe.runtime.sinks
_EXPORTS = {
    "BoxAnnotator": "annotate", "ExpertStripAnnotator": "annotate", "FpsAnnotator": "annotate",
    "FrameAnnotator": "annotate", "LabelAnnotator": "annotate",
    "ExpertTimeline": "plot", "ImageFolderSink": "images", "JsonlSink": "jsonl", "VideoSink": "video", "WindowSink": "window",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f"edge_moe.runtime.sinks.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'edge_moe.runtime.sinks' has no attribute {name!r}")
