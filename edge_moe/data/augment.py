"""Detection augmentations with numpy and OpenCV only: letterbox, HSV jitter, flips, random affine, mosaic.

Every function takes an explicit ``np.random.Generator`` (no global RNG), so a sample's augmentation
is a function of ``(seed, epoch, index)`` and training resumes exactly. Boxes are xyxy pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PAD_VALUE = 114


@dataclass(frozen=True)
class AugmentConfig:
    hsv_h: float = 0.015
    hsv_s: float = 0.7
    hsv_v: float = 0.4
    flip_lr: float = 0.5
    flip_ud: float = 0.0
    degrees: float = 0.0
    translate: float = 0.1
    scale: float = 0.3  # Ultralytics uses 0.5 on COCO; 0.3 keeps the 10-px synthetic objects learnable
    mosaic: float = 0.5  # probability of a 4-image mosaic (switched off for the last epochs; Ultralytics: 1.0)


def resize_long_side(image: np.ndarray, size: int) -> tuple[np.ndarray, float]:
    import cv2

    from edge_moe.runtime.preprocess import interpolation

    h, w = image.shape[:2]
    ratio = size / max(h, w)
    if ratio != 1:
        image = cv2.resize(image, (max(1, round(w * ratio)), max(1, round(h * ratio))), interpolation=interpolation(ratio))
    return image, ratio


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, float, tuple[float, float]]:
    """Resizes the long side to ``size`` and pads to a square with gray 114; returns ``(image, ratio, (pad_x, pad_y))``.

    A pixel ``p`` of the original maps to ``p * ratio + pad`` in the letterboxed image. A thin
    wrapper over the runtime's :func:`edge_moe.runtime.preprocess.letterbox`, so training,
    validation and deployment see the same pixels.
    """
    from edge_moe.runtime.preprocess import letterbox as fit

    out, box = fit(image, size, size, PAD_VALUE)
    return out, box.scale, (box.pad_x, box.pad_y)


def hsv_jitter(image: np.ndarray, rng: np.random.Generator, h: float, s: float, v: float) -> np.ndarray:
    import cv2

    if not (h or s or v):
        return image
    gains = rng.uniform(-1, 1, 3) * [h, s, v] + 1
    hue, sat, val = cv2.split(cv2.cvtColor(image, cv2.COLOR_BGR2HSV))
    x = np.arange(256, dtype=np.float32)
    lut_h = ((x * gains[0]) % 180).astype(np.uint8)
    lut_s = np.clip(x * gains[1], 0, 255).astype(np.uint8)
    lut_v = np.clip(x * gains[2], 0, 255).astype(np.uint8)
    merged = cv2.merge((cv2.LUT(hue, lut_h), cv2.LUT(sat, lut_s), cv2.LUT(val, lut_v)))
    return cv2.cvtColor(merged, cv2.COLOR_HSV2BGR)


def flip(image: np.ndarray, boxes: np.ndarray, horizontal: bool) -> tuple[np.ndarray, np.ndarray]:
    h, w = image.shape[:2]
    boxes = boxes.copy()
    if horizontal:
        image = image[:, ::-1]
        boxes[:, [0, 2]] = w - boxes[:, [2, 0]]
    else:
        image = image[::-1]
        boxes[:, [1, 3]] = h - boxes[:, [3, 1]]
    return np.ascontiguousarray(image), boxes


def random_affine(
    image: np.ndarray,
    classes: np.ndarray,
    boxes: np.ndarray,
    rng: np.random.Generator,
    out_size: int,
    degrees: float,
    translate: float,
    scale: float,
    min_keep: float = 0.2,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rotates/scales about the image centre, translates, and crops/pads to ``out_size`` squared.

    Boxes are the enclosing boxes of their transformed corners, clipped; boxes that keep less than
    ``min_keep`` of their (scaled) area or become thinner than 2 px are dropped.
    """
    import cv2

    h, w = image.shape[:2]
    center = np.eye(3)
    center[0, 2], center[1, 2] = -w / 2, -h / 2
    rot = np.eye(3)
    s = rng.uniform(1 - scale, 1 + scale)
    rot[:2] = cv2.getRotationMatrix2D((0, 0), rng.uniform(-degrees, degrees), s)
    move = np.eye(3)
    move[0, 2] = rng.uniform(0.5 - translate, 0.5 + translate) * out_size
    move[1, 2] = rng.uniform(0.5 - translate, 0.5 + translate) * out_size
    matrix = (move @ rot @ center)[:2]
    out = cv2.warpAffine(image, matrix, (out_size, out_size), borderValue=(PAD_VALUE,) * 3)
    if len(boxes) == 0:
        return out, classes, boxes
    corners = boxes[:, [0, 1, 2, 1, 2, 3, 0, 3]].reshape(-1, 2)  # (4N, 2)
    corners = np.concatenate([corners, np.ones((len(corners), 1))], axis=1) @ matrix.T
    corners = corners.reshape(-1, 4, 2)
    new = np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1)
    area_before = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) * s * s
    new = np.clip(new, 0, out_size)
    wh = new[:, 2:] - new[:, :2]
    keep = (wh[:, 0] > 2) & (wh[:, 1] > 2) & (wh[:, 0] * wh[:, 1] > min_keep * area_before)
    return out, classes[keep], new[keep].astype(np.float32)


def mosaic(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]], size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Four ``(image, classes, boxes)`` (long side already ``size``) tiled around a random centre on a 2x canvas."""
    canvas = np.full((2 * size, 2 * size, 3), PAD_VALUE, np.uint8)
    cx, cy = (int(rng.uniform(0.5 * size, 1.5 * size)) for _ in range(2))
    all_cls, all_box = [], []
    for i, (image, classes, boxes) in enumerate(parts):
        h, w = image.shape[:2]
        if i == 0:  # top left
            x1, y1, x2, y2 = max(cx - w, 0), max(cy - h, 0), cx, cy
            sx1, sy1 = w - (x2 - x1), h - (y2 - y1)
        elif i == 1:  # top right
            x1, y1, x2, y2 = cx, max(cy - h, 0), min(cx + w, 2 * size), cy
            sx1, sy1 = 0, h - (y2 - y1)
        elif i == 2:  # bottom left
            x1, y1, x2, y2 = max(cx - w, 0), cy, cx, min(2 * size, cy + h)
            sx1, sy1 = w - (x2 - x1), 0
        else:  # bottom right
            x1, y1, x2, y2 = cx, cy, min(cx + w, 2 * size), min(2 * size, cy + h)
            sx1, sy1 = 0, 0
        canvas[y1:y2, x1:x2] = image[sy1 : sy1 + (y2 - y1), sx1 : sx1 + (x2 - x1)]
        shifted = boxes + np.array([x1 - sx1, y1 - sy1] * 2, np.float32)
        all_cls.append(classes)
        all_box.append(shifted)
    classes = np.concatenate(all_cls) if all_cls else np.zeros((0,), np.int64)
    boxes = np.concatenate(all_box).reshape(-1, 4) if all_box else np.zeros((0, 4), np.float32)
    clipped = np.clip(boxes, 0, 2 * size)
    keep = ((clipped[:, 2] - clipped[:, 0]) > 2) & ((clipped[:, 3] - clipped[:, 1]) > 2)
    return canvas, classes[keep], clipped[keep].astype(np.float32)
