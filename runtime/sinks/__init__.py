"""Where results go: JSONL log, annotated video, a window, the expert-activation plot."""
from edge_moe.runtime.sinks.annotate import (BoxAnnotator, ExpertStripAnnotator, FpsAnnotator, FrameAnnotator,
                                             LabelAnnotator)
from edge_moe.runtime.sinks.jsonl import JsonlSink
from edge_moe.runtime.sinks.plot import ExpertTimeline
from edge_moe.runtime.sinks.video import VideoSink
from edge_moe.runtime.sinks.window import WindowSink

__all__ = ["BoxAnnotator", "ExpertStripAnnotator", "ExpertTimeline", "FpsAnnotator", "FrameAnnotator", "JsonlSink",
           "LabelAnnotator", "VideoSink", "WindowSink"]
