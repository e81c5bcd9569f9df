"""Frame sources: cameras, CSI, GStreamer, RTSP/HTTP streams, video files, images, push feeds."""
from edge_moe.runtime.sources.base import Frame, Source
from edge_moe.runtime.sources.capture import csi_pipeline, video_backends
from edge_moe.runtime.sources.files import ImageSource, VideoFileSource
from edge_moe.runtime.sources.live import LiveSource, RetryPolicy
from edge_moe.runtime.sources.open import SourceOptions, open_source
from edge_moe.runtime.sources.push import PushSource

__all__ = ["Frame", "ImageSource", "LiveSource", "PushSource", "RetryPolicy", "Source", "SourceOptions", "VideoFileSource",
           "csi_pipeline", "open_source", "video_backends"]
