"""``xray-builtin``: a small real classification set made from photos scikit-image ships (``skimage.data``).

Each class is one bundled photo (coins, clock, camera, cell, rocket). Images are square crops rendered
X-ray-like: grayscale, inverted (dense matter bright), slightly blurred, with sensor noise, flipped or
rotated by multiples of 90 degrees. Train and val are different random crops (position, scale,
orientation, exposure, noise) of the same photos: val crops overlap training crops, so validation
measures robustness to view and noise, not generalisation to unseen objects. Written once (atomically) under the user's cache folder, or anywhere with
``python -m edge_moe.data OUT --spec xray-builtin``.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

BUILTIN = "xray-builtin"
VERSION = 2
CLASSES = ("camera", "cell", "clock", "coins", "rocket")  # skimage.data functions
COUNTS = {"train": 60, "val": 20}  # per class
SIZE = 96  # pixels of a written image


def builtin_root() -> Path:
    """The cached copy (written on first use)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    root = cache / "edge-moe" / f"{BUILTIN}-v{VERSION}"
    if not (root / "val").is_dir():
        write_builtin(root)
    return root


def write_builtin(out: Path, seed: int = 0) -> Path:
    """Writes ``out/{train,val}/<class>/*.png`` atomically (a finished folder or nothing)."""
    import shutil
    import tempfile

    import cv2

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        rng = np.random.default_rng(seed)
        for name in CLASSES:
            photo = _photo(name)
            for split, count in COUNTS.items():
                folder = tmp / split / name
                folder.mkdir(parents=True)
                for i in range(count):
                    cv2.imwrite(str(folder / f"{name}_{i:03d}.png"), render(photo, rng))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _photo(name: str) -> np.ndarray:
    """The bundled photo as (H, W) uint8 grayscale."""
    import cv2
    import skimage.data

    image = getattr(skimage.data, name)()
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image.astype(np.uint8)


def render(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random square crop of ``photo`` as an X-ray-like (SIZE, SIZE) uint8 image."""
    import cv2

    h, w = photo.shape
    side = int(min(h, w) * rng.uniform(0.4, 1.0))
    y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    crop = cv2.resize(photo[y : y + side, x : x + side], (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    crop = np.rot90(crop, int(rng.integers(4)))
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    xray = cv2.GaussianBlur(255.0 - crop.astype(np.float32), (0, 0), 1.0)  # dense matter bright, soft edges
    xray = xray * rng.uniform(0.8, 1.1) + rng.normal(0.0, 6.0, xray.shape)  # exposure and sensor noise
    return np.clip(xray, 0, 255).astype(np.uint8)
