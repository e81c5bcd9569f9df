"""``open_source(spec)``: one string (or camera index) -> the right :class:`Source`.

    0, "1"                      camera index (OpenCV's default backend)
    v4l2:///dev/video0          a V4L2 device
    csi://0?width=1920&height=1080&fps=30&flip=2    Jetson CSI camera (GStreamer nvarguscamerasrc)
    gst:<pipeline ending in appsink>                a raw GStreamer pipeline
    rtsp://... rtsps:// rtmp:// udp:// srt://       network streams (FFmpeg)
    http(s)://...               MJPEG over HTTP or HLS (.m3u8), via FFmpeg
    video.mp4, image.jpg, a directory of images, a glob like "frames/*.png"
"""
from __future__ import annotations

import glob
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Optional, Union
from urllib.parse import parse_qs, urlparse

import cv2

from edge_moe.errors import UserError
from edge_moe.runtime.sources.base import Source
from edge_moe.runtime.sources.capture import csi_pipeline, open_capture, require_gstreamer, video_backends
from edge_moe.runtime.sources.files import IMAGE_SUFFIXES, ImageSource, VideoFileSource, images_in
from edge_moe.runtime.sources.live import LiveSource, RetryPolicy

NETWORK_SCHEMES = ("rtsp", "rtsps", "rtmp", "udp", "srt", "http", "https", "tcp")


@dataclass(frozen=True)
class SourceOptions:
    open_timeout_s: float = 10.0  # FFmpeg: give up opening a file/stream after this
    read_timeout_s: float = 5.0  # FFmpeg: a stream silent this long counts as dropped
    retry: RetryPolicy = field(default_factory=RetryPolicy)  # live sources: (re)connect window
    rtsp_transport: Optional[str] = None  # "tcp" (OpenCV's default) or "udp"


def open_source(spec: Union[str, int, Path, Source], options: SourceOptions = SourceOptions()) -> Source:
    """Opens ``spec``; raises UserError with one line when it cannot."""
    if isinstance(spec, Source):
        return spec
    if isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit()):
        index = int(spec)
        return _live(lambda: open_capture(index, cv2.CAP_ANY, options.open_timeout_s, options.read_timeout_s), f"camera {index}", options)
    text = str(spec).strip()
    if not text:
        raise UserError("empty --source; expected a camera index, a URL, a video, an image, a directory or a glob")
    scheme = urlparse(text).scheme.lower() if "://" in text else ""
    if text.startswith("gst:"):
        require_gstreamer("a gst: source")
        pipeline = text[4:].strip()
        return _live(partial(open_capture, pipeline, cv2.CAP_GSTREAMER), f"gst:{pipeline[:40]}", options)
    if scheme == "csi":
        return _csi(text, options)
    if scheme == "v4l2":
        device = text[len("v4l2://"):]
        if not Path(device).exists():
            raise UserError(f"{text}: no such device {device} (is the camera plugged in? ls /dev/video*)")
        return _live(lambda: open_capture(device, cv2.CAP_V4L2), text, options)
    if scheme in NETWORK_SCHEMES:
        if not video_backends()["ffmpeg"]:
            raise UserError(f"{text}: network streams need OpenCV built with FFmpeg, and this one has none")
        ffmpeg_options = {"rtsp_transport": options.rtsp_transport} if options.rtsp_transport and scheme.startswith("rtsp") else None
        opener = partial(open_capture, text, cv2.CAP_FFMPEG, options.open_timeout_s, options.read_timeout_s, ffmpeg_options)
        return _live(opener, _redact(text), options)
    if scheme:
        raise UserError(f"{text}: unknown source scheme {scheme!r}; expected one of csi, v4l2, gst:, {', '.join(NETWORK_SCHEMES)}")
    return _file_source(text, options)


def _live(opener, description: str, options: SourceOptions) -> LiveSource:
    return LiveSource(opener, description, options.retry)


def _csi(text: str, options: SourceOptions) -> LiveSource:
    url = urlparse(text)
    query = {k: v[-1] for k, v in parse_qs(url.query).items()}
    try:
        sensor = int(url.netloc or 0)
        values = {k: int(query.pop(k, d)) for k, d in (("width", 1280), ("height", 720), ("fps", 30), ("flip", 0))}
    except ValueError:
        raise UserError(f"{text}: csi://N?width=W&height=H&fps=F&flip=M takes integers") from None
    if query:
        raise UserError(f"{text}: unknown csi option(s) {sorted(query)}; expected width, height, fps, flip")
    require_gstreamer(f"{text} (a Jetson CSI camera)")
    pipeline = csi_pipeline(sensor, values["width"], values["height"], values["fps"], values["flip"])
    return _live(partial(open_capture, pipeline, cv2.CAP_GSTREAMER), f"csi://{sensor}", options)


def _file_source(text: str, options: SourceOptions) -> Source:
    path = Path(text).expanduser()
    if any(c in text for c in "*?["):
        paths = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).suffix.lower() in IMAGE_SUFFIXES)
        return ImageSource(paths, text)
    if path.is_dir():
        return ImageSource(images_in(path), text)
    if not path.exists():
        raise UserError(f"{text}: no such file or directory (and not a camera index or a URL)")
    if not path.is_file():
        raise UserError(f"{text}: not a regular file")
    try:
        with open(path, "rb"):
            pass
    except OSError as error:
        raise UserError(f"{text}: cannot read ({error.strerror})") from None
    if path.stat().st_size == 0:
        raise UserError(f"{text}: empty file (0 bytes)")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageSource([path], text)
    return VideoFileSource(path, options.open_timeout_s, options.read_timeout_s)


def _redact(url: str) -> str:
    """Hides a password in rtsp://user:pass@host so it never reaches logs."""
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@", 1)
    return url
