"""A seeded detection set of real handwriting: scikit-learn's bundled digits pasted on scikit-image photo crops.

``--data digits[:n=400,val=100,imgsz=256,seed=0,dense=0.5]``. The 1797 handwritten digits (8x8, 10
classes) ship inside the scikit-learn wheel, so the set needs no download. Train scenes use the
first 1500 digits and val scenes the rest, so validation reads handwriting the model never saw.
Two scene regimes, tagged per image like :mod:`edge_moe.data.synthetic`:

- ``few-large``: 1-4 digits of 20-45 % of the image side;
- ``many-small``: 8-20 digits of 7-12 % of the side.

Everything is a function of ``(seed, split)``: the same options always give the same pixels.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from edge_moe.data.samples import MemorySource
from edge_moe.data.synthetic import SPLIT_STREAM, _background, _iou, fresh, parse_options, scene_set
from edge_moe.errors import UserError

NAMES = [str(d) for d in range(10)]
TRAIN_DIGITS = 1500  # digits [0, 1500) appear in train scenes, [1500, 1797) in val scenes
INK_THRESHOLD = 0.25  # alpha above which a pixel counts as ink for the box


@dataclass(frozen=True)
class DigitsSpec:
    """Options of ``--data digits:key=value,...``; ``n``/``val`` are the train/val image counts."""

    n: int = 400
    val: int = 100
    imgsz: int = 256
    seed: int = 0
    dense: float = 0.5  # fraction of many-small scenes

    def __post_init__(self) -> None:
        for key in ("n", "val", "imgsz"):
            value = getattr(self, key)
            if not isinstance(value, int) or value < 1:
                raise UserError(f"digits option {key} must be a positive integer, got {value!r}")
        if self.imgsz < 64:
            raise UserError(f"digits option imgsz must be >= 64, got {self.imgsz}")
        if not 0.0 <= self.dense <= 1.0:
            raise UserError(f"digits option dense must be in [0, 1], got {self.dense}")

    @property
    def names(self) -> list[str]:
        return list(NAMES)


def parse_digits(spec: str) -> DigitsSpec:
    """``digits`` or ``digits:n=400,val=100,imgsz=256,seed=0,dense=0.5``."""
    return DigitsSpec(**parse_options(spec, "digits", {"n": int, "val": int, "imgsz": int, "seed": int, "dense": float}))


@lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    """(images (1797, 8, 8) float32 ink in [0, 1], targets (1797,) int64) from the scikit-learn wheel."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return (bunch.images / 16.0).astype(np.float32), bunch.target.astype(np.int64)


def _ink(digit: np.ndarray, width: int, height: int) -> np.ndarray:
    """The 8x8 digit upscaled to (height, width) alpha in [0, 1], with smooth strokes."""
    import cv2

    alpha = cv2.resize(digit, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip((alpha - 0.15) * 1.6, 0.0, 1.0)


def render_digit_scene(rng: np.random.Generator, imgsz: int, regime: str, pool: range) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One scene of digits drawn from ``pool`` (indices into the digits): ``(image BGR uint8, classes (N,), boxes (N, 4) xyxy px)``."""
    images, targets = _digits()
    image = _background(rng, imgsz).astype(np.float32)
    if regime == "few-large":
        count, size_range, max_iou = int(rng.integers(1, 5)), (0.2, 0.45), 0.1
    else:
        count, size_range, max_iou = int(rng.integers(8, 21)), (0.07, 0.12), 0.0
    placed_cls: list[int] = []
    placed_box: list[np.ndarray] = []
    for _ in range(count * 20):
        if len(placed_cls) == count:
            break
        index = int(pool[rng.integers(len(pool))])
        height = max(int(rng.uniform(*size_range) * imgsz), 8)
        width = max(int(height * rng.uniform(0.7, 1.0)), 6)
        x0, y0 = int(rng.integers(0, imgsz - width + 1)), int(rng.integers(0, imgsz - height + 1))
        alpha = _ink(images[index], width, height)  # (h, w)
        rows, cols = np.nonzero(alpha > INK_THRESHOLD)
        if len(rows) == 0:
            continue
        box = np.array([x0 + cols.min(), y0 + rows.min(), x0 + cols.max() + 1, y0 + rows.max() + 1], np.float32)
        if placed_box and _iou(box, np.array(placed_box)).max() > max_iou:
            continue
        window = image[y0 : y0 + height, x0 : x0 + width]
        dark = window.mean() > 110  # ink that contrasts with what lies under it
        colour = rng.uniform(0, 70, size=3) if dark else rng.uniform(185, 255, size=3)
        window[:] = window * (1 - alpha[..., None]) + alpha[..., None] * colour.astype(np.float32)
        placed_cls.append(int(targets[index]))
        placed_box.append(box)
    image += rng.standard_normal(image.shape, dtype=np.float32) * 4  # sensor noise
    boxes = np.array(placed_box, np.float32).reshape(-1, 4)
    return np.clip(image, 0, 255).astype(np.uint8), np.array(placed_cls, np.int64), boxes


def generate_digits(spec: DigitsSpec, split: str = "train") -> MemorySource:
    """The ``split`` ("train" or "val") of a digits set; each split has its own random stream and its own handwriting."""
    return fresh(_generate(spec, split))


@lru_cache(maxsize=4)
def _generate(spec: DigitsSpec, split: str) -> MemorySource:
    count = spec.n if split == "train" else spec.val
    pool = range(0, TRAIN_DIGITS) if split == "train" else range(TRAIN_DIGITS, len(_digits()[1]))
    rng = np.random.default_rng([spec.seed, SPLIT_STREAM[split], 10])
    return scene_set(rng, count, spec.imgsz, spec.dense, spec.names, f"digits {split}",
                     lambda rng, regime: render_digit_scene(rng, spec.imgsz, regime, pool))
