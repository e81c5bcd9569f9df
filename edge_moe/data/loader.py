"""Torch datasets over a :class:`SampleSource`: augmented training batches and letterboxed eval batches.

Training augmentation draws from ``np.random.default_rng((seed, epoch, index))``, so batches do not
depend on worker count or on where a run was resumed.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from torch.utils.data import Dataset

from edge_moe.data.augment import AugmentConfig, flip, hsv_jitter, letterbox, mosaic, random_affine, resize_long_side
from edge_moe.data.samples import SampleSource


def _to_chw_rgb(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image[..., ::-1].transpose(2, 0, 1)))  # (3, H, W) uint8 RGB


class TrainDataset(Dataset):
    """Yields ``(image (3, S, S) uint8 RGB, targets (N, 5) float32 [class, x1, y1, x2, y2] pixels)``."""

    def __init__(self, source: SampleSource, imgsz: int, augment: AugmentConfig, seed: int = 0):
        self.source = source
        self.imgsz = imgsz
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int, mosaic_on: bool, hsv_on: bool = True) -> None:
        self.epoch = epoch
        self.augment_now = self.augment
        if not mosaic_on:
            self.augment_now = replace(self.augment_now, mosaic=0.0)
        if not hsv_on:
            self.augment_now = replace(self.augment_now, hsv_h=0.0, hsv_s=0.0, hsv_v=0.0)

    def __len__(self) -> int:
        return len(self.source)

    def _resized(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        sample = self.source.get(index)
        image, ratio = resize_long_side(sample.image, self.imgsz)
        return image, sample.classes, sample.boxes * ratio

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        aug = getattr(self, "augment_now", self.augment)
        rng = np.random.default_rng([self.seed, self.epoch, index])
        size = self.imgsz
        if rng.random() < aug.mosaic:
            others = rng.integers(0, len(self.source), 3)
            image, classes, boxes = mosaic([self._resized(i) for i in (index, *others.tolist())], size, rng)
        else:
            image, classes, boxes = self._resized(index)
            image, ratio, (px, py) = letterbox(image, size)
            boxes = boxes * ratio + np.array([px, py, px, py], np.float32)
        image, classes, boxes = random_affine(image, classes, boxes, rng, size, aug.degrees, aug.translate, aug.scale)
        image = hsv_jitter(image, rng, aug.hsv_h, aug.hsv_s, aug.hsv_v)
        if rng.random() < aug.flip_lr:
            image, boxes = flip(image, boxes, horizontal=True)
        if rng.random() < aug.flip_ud:
            image, boxes = flip(image, boxes, horizontal=False)
        targets = np.concatenate([classes[:, None].astype(np.float32), boxes.reshape(-1, 4)], axis=1)
        return _to_chw_rgb(image), torch.from_numpy(targets.astype(np.float32))


def collate_train(batch: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stacks images (B, 3, S, S) and concatenates targets into (M, 6) [image index, class, x1, y1, x2, y2]."""
    images = torch.stack([b[0] for b in batch])
    targets = [torch.cat([torch.full((len(t), 1), float(i)), t], dim=1) for i, (_, t) in enumerate(batch)]
    return images, torch.cat(targets) if targets else torch.zeros((0, 6))


class EvalDataset(Dataset):
    """Yields ``(image (3, S, S) uint8 RGB letterboxed, index, ratio, pad (2,), original (h, w))``."""

    def __init__(self, source: SampleSource, imgsz: int):
        self.source = source
        self.imgsz = imgsz

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int):
        original = self.source.image(index)
        image, ratio, pad = letterbox(original, self.imgsz)
        return _to_chw_rgb(image), index, ratio, pad, original.shape[:2]


def collate_eval(batch):
    """Images (B, 3, S, S) uint8 and per-image lists of index, ratio, pad, original (h, w)."""
    images = torch.stack([b[0] for b in batch])
    return images, [b[1] for b in batch], [b[2] for b in batch], [b[3] for b in batch], [b[4] for b in batch]
