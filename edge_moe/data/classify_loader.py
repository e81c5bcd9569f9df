"""Torch dataset over an :class:`~edge_moe.data.imagefolder.ImageFolder`: letterboxed images and class labels.

Images go through the runtime's letterbox (the deployed model sees the same pixels). Training
augmentation (random crop keeping ``1 - scale`` .. 1 of each side, flips, brightness) draws from
``np.random.default_rng((seed, epoch, index))``, so batches do not depend on workers or on resuming.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from edge_moe.data.augment import AugmentConfig
from edge_moe.data.imagefolder import ImageFolder
from edge_moe.runtime.preprocess import letterbox


class ClassifyDataset(Dataset):
    """Yields ``(image (3, S, S) uint8 RGB, label int64)``; ``augment=None`` for evaluation."""

    def __init__(self, folder: ImageFolder, imgsz: int, augment: AugmentConfig | None = None, seed: int = 0):
        self.folder = folder
        self.imgsz = imgsz
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.folder)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.folder.image(index)  # (H, W, 3) BGR
        if self.augment is not None:
            image = self._augmented(image, np.random.default_rng([self.seed, self.epoch, index]))
        canvas, _ = letterbox(image, self.imgsz, self.imgsz)
        chw = np.ascontiguousarray(canvas[..., ::-1].transpose(2, 0, 1))  # (3, S, S) RGB
        return torch.from_numpy(chw), torch.tensor(int(self.folder.labels[index]))

    def _augmented(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        aug = self.augment
        h, w = image.shape[:2]
        keep = rng.uniform(1.0 - aug.scale, 1.0)
        ch, cw = max(1, int(h * keep)), max(1, int(w * keep))
        y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        image = image[y : y + ch, x : x + cw]
        if rng.random() < aug.flip_lr:
            image = image[:, ::-1]
        if rng.random() < aug.flip_ud:
            image = image[::-1]
        gain = 1.0 + rng.uniform(-aug.hsv_v, aug.hsv_v) * 0.5
        return np.clip(image.astype(np.float32) * gain, 0, 255).astype(np.uint8)
