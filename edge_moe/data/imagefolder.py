"""Classification data: the ImageFolder layout ``DIR/train/<class>/*.png`` and ``DIR/val/<class>/*.png``.

The convention torchvision and Ultralytics users have: one folder per class, the folder name is the
class name, classes sorted by name. Every problem (missing split, empty class folder, different
classes in train and val, an unreadable image) is a one-line UserError naming the folder or file.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from edge_moe.data.samples import check_images as check_readable, read_image
from edge_moe.data.spec import DataSet
from edge_moe.errors import UserError
from edge_moe.runtime.sources.files import IMAGE_SUFFIXES, images_in


@dataclass
class ImageFolder:
    """One split: image paths and their class index into ``names``."""

    names: list[str]
    paths: list[Path]
    labels: np.ndarray  # (N,) int64
    origin: str

    def __len__(self) -> int:
        return len(self.paths)

    def image(self, index: int) -> np.ndarray:
        """(H, W, 3) BGR uint8; an unreadable file is a UserError naming it."""
        return read_image(self.paths[index])


def is_image_folder(spec: str) -> bool:
    """``spec`` is the built-in set or a directory laid out as ``train/`` and/or ``val/`` class folders."""
    from edge_moe.data.xray_builtin import BUILTIN

    path = Path(spec)
    return spec == BUILTIN or (path.is_dir() and any((path / split).is_dir() for split in ("train", "val")))


def load_image_folders(spec: str, splits: Sequence[str] = ("train", "val"), check_images: bool = True) -> DataSet:
    """Loads the requested splits of an ImageFolder directory (or ``xray-builtin``, written on first use)."""
    from edge_moe.data.xray_builtin import BUILTIN, builtin_root

    root = builtin_root() if spec == BUILTIN else Path(spec)
    if not root.is_dir():
        raise UserError(f"--data {spec}: not a directory (expected DIR/train/<class>/*.png and DIR/val/<class>/*.png)")
    folders = {split: read_split(root / split) for split in splits}
    names = next(iter(folders.values())).names
    for split, folder in folders.items():
        if folder.names != names:
            first = next(iter(folders))
            raise UserError(
                f"{root}: class folders differ between {first}/ {names} and {split}/ {folder.names} (expected the same classes)"
            )
    if check_images:
        for folder in folders.values():
            check_readable(folder.paths, folder.origin)
    return DataSet(names, folders, spec)  # type: ignore[arg-type]  # splits are ImageFolders


def read_split(folder: Path) -> ImageFolder:
    if not folder.is_dir():
        raise UserError(f"{folder}: split folder not found (expected {folder}/<class>/*.png)")
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise UserError(f"{folder}: no class folders (expected {folder}/<class>/*.png)")
    paths, labels = [], []
    for index, class_dir in enumerate(classes):
        images = images_in(class_dir)
        if not images:
            raise UserError(f"{class_dir}: empty class folder (expected images: {', '.join(IMAGE_SUFFIXES)})")
        paths += images
        labels += [index] * len(images)
    return ImageFolder([c.name for c in classes], paths, np.asarray(labels, np.int64), str(folder))

