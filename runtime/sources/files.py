"""File sources: every frame, in order. Videos end cleanly at the first undecodable frame (a truncated
or corrupt file), images that cannot be read are skipped and counted."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Optional, Sequence

import cv2

from edge_moe.errors import UserError
from edge_moe.runtime.sources.base import Frame, Source
from edge_moe.runtime.sources.capture import open_capture

log = logging.getLogger("edge_moe.runtime")

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")  # what cv2.imread reads; training data uses it too


class VideoFileSource(Source):
    live = False

    def __init__(self, path: Path, open_timeout_s: float = 10.0, read_timeout_s: float = 5.0):
        self.path = Path(path)
        self.description = str(path)
        self.cap = open_capture(str(path), cv2.CAP_FFMPEG, open_timeout_s, read_timeout_s)
        if self.cap is None:
            raise UserError(f"{path}: cannot decode this video (not a video file, unsupported codec, or corrupt header)")
        self.expected = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.fps = float(self.cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.frames_read = 0
        self.error: Optional[str] = None

    def read(self, timeout: Optional[float] = None) -> Optional[Frame]:
        if self.cap is None:
            return None
        ok, image = self.cap.read()
        if not ok or image is None:
            if self.expected and self.frames_read < self.expected * 0.98 - 1:
                self.error = f"{self.path}: decoding stopped after {self.frames_read} of {self.expected} frames (truncated or corrupt file)"
                log.warning(self.error)
            self.close()
            return None
        frame = Frame(image, self.frames_read, time.time())
        self.frames_read += 1
        return frame

    def close(self) -> None:
        if self.cap is not None:
            self.cap.release()
            self.cap = None

    def stats(self) -> dict:
        return {"read": self.frames_read, "expected": self.expected}


class ImageSource(Source):
    """One image, a directory of images (sorted by name) or a glob pattern."""

    live = False

    def __init__(self, paths: Sequence[Path], description: str):
        if not paths:
            raise UserError(f"{description}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
        self.paths = list(paths)
        self.description = description
        self.position = 0
        self.frames_read = 0
        self.unreadable = 0
        self.error: Optional[str] = None

    def read(self, timeout: Optional[float] = None) -> Optional[Frame]:
        while self.position < len(self.paths):
            path = self.paths[self.position]
            self.position += 1
            image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if image is None or image.size == 0:
                self.unreadable += 1
                log.warning("%s: cannot read this image, skipped", path)
                continue
            if image.dtype != "uint8":  # 16-bit PNG/TIFF -> 8-bit
                image = cv2.convertScaleAbs(image, alpha=255.0 / max(float(image.max()), 1.0))
            self.frames_read += 1  # the index stays the file's position: a skipped file leaves a gap
            return Frame(image, self.position - 1, time.time(), str(path))
        return None

    def close(self) -> None:
        self.position = len(self.paths)

    def stats(self) -> dict:
        return {"read": self.frames_read, "unreadable": self.unreadable}


def images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
