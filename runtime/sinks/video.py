"""Annotated video out (mp4v for .mp4, MJPG for .avi); frames of another size are letterboxed to the first."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edge_moe.errors import UserError
from edge_moe.runtime.preprocess import letterbox
from edge_moe.runtime.sinks.atomic import commit, discard, temp_path_for

FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


class VideoSink:
    def __init__(self, path: str | Path, fps: float = 30.0):
        self.path = Path(path)
        if self.path.suffix.lower() not in FOURCC:
            raise UserError(f"{self.path}: video output must end in one of {sorted(FOURCC)}")
        self.temp = temp_path_for(self.path)
        self.fps = fps if fps and fps > 0 else 30.0
        self.writer = None
        self.size = None
        self.count = 0

    def write(self, image: np.ndarray) -> None:
        h, w = image.shape[:2]
        if self.writer is None:
            self.size = (w + w % 2, h + h % 2)  # encoders want even sizes
            fourcc = cv2.VideoWriter_fourcc(*FOURCC[self.path.suffix.lower()])
            self.writer = cv2.VideoWriter(str(self.temp), cv2.CAP_FFMPEG, fourcc, self.fps, self.size)
            if not self.writer.isOpened():
                self.writer = None
                discard(self.temp)
                raise UserError(f"{self.path}: OpenCV cannot write this video format here")
        if (w, h) != self.size:
            image = letterbox(image, self.size[1], self.size[0], 0)[0]
        self.writer.write(image)
        self.count += 1

    def close(self) -> None:
        if self.writer is None:  # no frame written (or the writer failed to open): nothing to keep
            discard(self.temp)
            return
        self.writer.release()
        self.writer = None
        commit(self.temp, self.path)

    def __enter__(self) -> "VideoSink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
