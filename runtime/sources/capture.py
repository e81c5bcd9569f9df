"""Opening OpenCV captures with timeouts, and what this OpenCV build can do (GStreamer, FFmpeg)."""
from __future__ import annotations

import os
import re
import threading
from functools import lru_cache
from typing import Optional

import cv2

from edge_moe.errors import UserError

_ENV_LOCK = threading.Lock()  # OPENCV_FFMPEG_CAPTURE_OPTIONS is read by OpenCV during open()


@lru_cache(maxsize=None)
def video_backends() -> dict[str, bool]:
    """Which video I/O backends this OpenCV was built with (from cv2.getBuildInformation())."""
    info = cv2.getBuildInformation()
    section = info.split("Video I/O:", 1)[-1].split("\n\n", 1)[0]

    def has(name: str) -> bool:
        match = re.search(rf"^\s*{name}:\s*(\S+)", section, re.MULTILINE | re.IGNORECASE)
        return bool(match) and match.group(1).upper() not in ("NO", "OFF")

    return {"gstreamer": has("GStreamer"), "ffmpeg": has("FFMPEG"), "v4l2": has("v4l/v4l2")}


def quiet_opencv() -> None:
    """Silences OpenCV's and FFmpeg's own log lines (``moov atom not found``, ``can't open camera by index``) that a
    command line prints before its one-line error; OPENCV_LOG_LEVEL / OPENCV_FFMPEG_LOGLEVEL set by the user win."""
    if "OPENCV_LOG_LEVEL" not in os.environ:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET; read when FFmpeg is first used


def require_gstreamer(what: str) -> None:
    if not video_backends()["gstreamer"]:
        raise UserError(
            f"{what} needs OpenCV built with GStreamer, and this OpenCV ({cv2.__version__}, {os.path.dirname(cv2.__file__)}) "
            "has none (pip's opencv wheels never do). On a Jetson use JetPack's system OpenCV: "
            "pip uninstall opencv-python opencv-python-headless, and create the venv with --system-site-packages"
        )


def csi_pipeline(sensor_id: int = 0, width: int = 1280, height: int = 720, fps: int = 30, flip: int = 0) -> str:
    """The GStreamer pipeline for a Jetson CSI camera (nvarguscamerasrc), ending in a BGR appsink that
    keeps one buffer and drops the rest (so the reader always gets the newest frame)."""
    return (
        f"nvarguscamerasrc sensor-id={sensor_id} ! "
        f"video/x-raw(memory:NVMM),width={width},height={height},framerate={fps}/1,format=NV12 ! "
        f"nvvidconv flip-method={flip} ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! "
        "appsink drop=true max-buffers=1 sync=false"
    )


def open_capture(target, api: int, open_timeout_s: float = 10.0, read_timeout_s: float = 5.0,
                 ffmpeg_options: Optional[dict[str, str]] = None) -> Optional[cv2.VideoCapture]:
    """An opened cv2.VideoCapture, or None when it cannot be opened. Timeouts apply to FFmpeg
    (network streams and files); other backends have their own."""
    params = []
    if api in (cv2.CAP_FFMPEG, cv2.CAP_ANY):
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(open_timeout_s * 1000), cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(read_timeout_s * 1000)]
    with _ENV_LOCK:
        previous = os.environ.get("OPENCV_FFMPEG_CAPTURE_OPTIONS")
        if ffmpeg_options:
            extra = "|".join(f"{k};{v}" for k, v in ffmpeg_options.items())
            os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = f"{previous}|{extra}" if previous else extra
        try:
            cap = cv2.VideoCapture(target, api, params) if params else cv2.VideoCapture(target, api)
        finally:
            if ffmpeg_options:
                if previous is None:
                    os.environ.pop("OPENCV_FFMPEG_CAPTURE_OPTIONS", None)
                else:
                    os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = previous
    if not cap.isOpened():
        cap.release()
        return None
    return cap
