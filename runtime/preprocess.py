"""Letterbox + normalisation: any BGR/gray frame -> the model's (1, 3, H, W) float32 input."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import cv2
import numpy as np


@dataclass(frozen=True)
class InputSpec:
    """How the graph wants its input (read from the bundle manifest)."""

    height: int
    width: int
    rgb: bool = True  # channel order the graph expects
    scale: float = 1.0 / 255.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    pad_value: int = 114
    in_graph: bool = False  # the graph takes the letterboxed BGR uint8 frame and normalises it itself


@dataclass(frozen=True)
class Letterbox:
    """Where the frame landed inside the model input, to map boxes back."""

    scale: float  # input pixels per frame pixel
    pad_x: float
    pad_y: float
    frame_height: int
    frame_width: int

    def to_frame(self, xyxy: np.ndarray) -> np.ndarray:
        """Boxes (N, 4) in input pixels -> original-frame pixels, clipped to the frame."""
        out = xyxy.astype(np.float32, copy=True)
        out[:, [0, 2]] = ((out[:, [0, 2]] - self.pad_x) / self.scale).clip(0, self.frame_width)
        out[:, [1, 3]] = ((out[:, [1, 3]] - self.pad_y) / self.scale).clip(0, self.frame_height)
        return out


def as_bgr(frame: np.ndarray) -> np.ndarray:
    """Gray (H, W) / (H, W, 1) and BGRA (H, W, 4) frames -> contiguous BGR uint8 (H, W, 3)."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8:
        kind = frame.dtype if isinstance(frame, np.ndarray) else type(frame).__name__
        raise ValueError(f"a frame must be a uint8 numpy image (H, W[, C]), got {kind}")
    if frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 1):
        return cv2.cvtColor(frame.reshape(frame.shape[:2]), cv2.COLOR_GRAY2BGR)
    if frame.ndim == 3 and frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.shape[0] < 1 or frame.shape[1] < 1:
        raise ValueError(f"a frame must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got shape {frame.shape}")
    return np.ascontiguousarray(frame)


def interpolation(scale: float) -> int:
    """INTER_AREA when shrinking (averages the source pixels, no aliasing), INTER_LINEAR when enlarging."""
    return cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR


def letterbox(frame: np.ndarray, height: int, width: int, pad_value: int = 114) -> tuple[np.ndarray, Letterbox]:
    """Resizes keeping the aspect ratio and pads to (height, width), centred.

    The one letterbox of the project: training, validation and the deployed runtime all call it,
    so a model sees the same pixels in deployment as in training.
    """
    h, w = frame.shape[:2]
    scale = min(height / h, width / w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    resized = frame if (new_w, new_h) == (w, h) else cv2.resize(frame, (new_w, new_h), interpolation=interpolation(scale))
    left, top = (width - new_w) // 2, (height - new_h) // 2
    canvas = cv2.copyMakeBorder(resized, top, height - new_h - top, left, width - new_w - left, cv2.BORDER_CONSTANT, value=(pad_value,) * 3)
    return canvas, Letterbox(scale, float(left), float(top), h, w)


def to_tensor(image: np.ndarray, spec: InputSpec) -> np.ndarray:
    """Letterboxed BGR uint8 (H, W, 3) -> normalised float32 (1, 3, H, W), or (1, H, W, 3) uint8 as is when
    the graph normalises in-graph."""
    if spec.in_graph:
        return image[None]  # (1, H, W, 3) uint8 BGR
    if spec.rgb:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    x = image.astype(np.float32)
    x *= np.float32(spec.scale)
    if any(spec.mean) or any(s != 1.0 for s in spec.std):
        x -= np.asarray(spec.mean, np.float32)
        x /= np.asarray(spec.std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])  # (1, 3, H, W)


@dataclass
class Prepared:
    """A frame ready for inference: the input tensor plus what postprocess needs."""

    tensor: np.ndarray  # (1, 3, H, W) float32, or (1, H, W, 3) uint8 for in-graph normalisation
    letterbox: Letterbox
    image: np.ndarray  # (h, w, 3) BGR original
    preprocess_ms: float
    index: int = 0  # the source frame's index and capture time
    timestamp: float = 0.0
    path: Optional[str] = None  # the image file it came from (image sources)


def prepare(frame: np.ndarray, spec: InputSpec) -> tuple[np.ndarray, Letterbox, np.ndarray]:
    """Any supported frame -> (input tensor (1, 3, H, W), letterbox, BGR frame)."""
    bgr = as_bgr(frame)
    canvas, box = letterbox(bgr, spec.height, spec.width, spec.pad_value)
    return to_tensor(canvas, spec), box, bgr


def spec_from_values(height: int, width: int, color: str = "RGB", scale: float = 1 / 255, mean: Sequence[float] = (0, 0, 0),
                     std: Sequence[float] = (1, 1, 1), pad_value: int = 114, in_graph: bool = False) -> InputSpec:
    if color not in ("RGB", "BGR"):
        raise ValueError(f"input color must be 'RGB' or 'BGR', got {color!r}")
    return InputSpec(int(height), int(width), color == "RGB", float(scale), tuple(map(float, mean)), tuple(map(float, std)),
                     int(pad_value), bool(in_graph))
