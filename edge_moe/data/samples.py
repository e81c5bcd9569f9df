"""Detection samples: the one record type every data format (synthetic, YOLO, COCO) is read into.

Labels are kept normalised (xyxy in [0, 1]) until the image is decoded, so a source never needs
image sizes up front; :meth:`SampleSource.get` returns pixels.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from edge_moe.errors import UserError


@dataclass
class Labels:
    """Boxes of one image: classes (N,) int64 and normalised xyxy boxes (N, 4) float32."""

    classes: np.ndarray
    boxes: np.ndarray

    @staticmethod
    def empty() -> "Labels":
        return Labels(np.zeros((0,), np.int64), np.zeros((0, 4), np.float32))

    def __len__(self) -> int:
        return len(self.classes)


@dataclass
class Sample:
    """One decoded image with pixel boxes. ``image`` is (H, W, 3) BGR uint8 (OpenCV order)."""

    image: np.ndarray
    classes: np.ndarray  # (N,) int64
    boxes: np.ndarray  # (N, 4) float32 xyxy pixels
    regime: Optional[str] = None


def read_image(path: Path) -> np.ndarray:
    """Decodes an image file to BGR uint8; an unreadable file is a one-line UserError naming it."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise UserError(f"{path}: unreadable image (not a valid JPEG/PNG/BMP/TIFF/WEBP file)")
    return image


class SampleSource(ABC):
    """An indexable set of samples with class names and, optionally, a scene regime per image."""

    def __init__(self, names: Sequence[str], labels: Sequence[Labels], regimes: Optional[Sequence[str]] = None, origin: str = ""):
        self.names = list(names)
        self.labels = list(labels)
        self.regimes = list(regimes) if regimes is not None else None
        self.origin = origin  # where the samples come from, for messages

    def __len__(self) -> int:
        return len(self.labels)

    @abstractmethod
    def image(self, index: int) -> np.ndarray:
        """The decoded (H, W, 3) BGR uint8 image of sample ``index``."""

    def get(self, index: int) -> Sample:
        image = self.image(index)
        h, w = image.shape[:2]
        labels = self.labels[index]
        boxes = labels.boxes * np.array([w, h, w, h], np.float32)
        regime = self.regimes[index] if self.regimes is not None else None
        return Sample(image, labels.classes.copy(), boxes.astype(np.float32), regime)

    def regime_names(self) -> list[str]:
        return sorted(set(self.regimes)) if self.regimes is not None else []


class MemorySource(SampleSource):
    """Samples whose images are already decoded (the synthetic generator)."""

    def __init__(self, names, images: Sequence[np.ndarray], labels, regimes=None, origin: str = "memory"):
        super().__init__(names, labels, regimes, origin)
        self.images = list(images)

    def image(self, index: int) -> np.ndarray:
        return self.images[index]


class FileSource(SampleSource):
    """Samples read from image files on demand (YOLO and COCO data sets)."""

    def __init__(self, names, paths: Sequence[Path], labels, regimes=None, origin: str = ""):
        super().__init__(names, labels, regimes, origin)
        self.paths = [Path(p) for p in paths]

    def image(self, index: int) -> np.ndarray:
        return read_image(self.paths[index])

    def check_images(self) -> None:
        check_images(self.paths, self.origin)


def check_images(paths: Sequence[Path], origin: str) -> None:
    """Decodes every image (JPEGs at 1/8 scale, cheap) so a corrupt file fails before training starts."""
    import cv2
    from tqdm import tqdm

    if len(paths) > 200:
        paths = tqdm(paths, desc=f"checking images of {origin}", leave=False)
    for path in paths:
        if not path.is_file():
            raise UserError(f"{path}: image file not found")
        image = cv2.imread(str(path), cv2.IMREAD_REDUCED_GRAYSCALE_8)
        if image is None or image.size == 0:
            raise UserError(f"{path}: unreadable image (not a valid JPEG/PNG/BMP/TIFF/WEBP file)")
