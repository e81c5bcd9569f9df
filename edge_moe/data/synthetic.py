"""A seeded synthetic detection set: coloured shapes composited on scikit-image's natural photographs.

Two scene regimes, tagged per image, give routing something to specialise on (the COCO vs VisDrone
contrast the MoE papers study):

- ``few-large``: 1-4 objects of 15-50 % of the image side;
- ``many-small``: 8-24 objects of 4-9 % of the side, densely packed.

Everything is a function of ``(seed, split)``: the same options always give the same pixels.
Write a set to disk in YOLO format with ``python -m edge_moe.data OUT_DIR [--spec synthetic:...]``.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from edge_moe.data.samples import Labels, MemorySource
from edge_moe.errors import UserError

SHAPES = ("circle", "square", "triangle", "cross", "ring", "diamond", "star", "hexagon")
REGIMES = ("few-large", "many-small")
# Photographs shipped inside the scikit-image wheel (no download needed).
PHOTOS = ("astronaut", "camera", "chelsea", "coffee", "coins", "rocket", "brick", "grass", "gravel", "moon", "immunohistochemistry", "hubble_deep_field")
SPLIT_STREAM = {"train": 0, "val": 1, "demo": 2}


@dataclass(frozen=True)
class SyntheticSpec:
    """Options of ``--data synthetic:key=value,...``; ``n``/``val`` are the train/val image counts."""

    n: int = 1000
    val: int = 200
    imgsz: int = 256
    classes: int = 3
    seed: int = 0
    dense: float = 0.5  # fraction of many-small scenes

    def __post_init__(self) -> None:
        for key in ("n", "val", "imgsz", "classes"):
            value = getattr(self, key)
            if not isinstance(value, int) or value < 1:
                raise UserError(f"synthetic option {key} must be a positive integer, got {value!r}")
        if self.imgsz < 64:
            raise UserError(f"synthetic option imgsz must be >= 64, got {self.imgsz}")
        if self.classes > len(SHAPES):
            raise UserError(f"synthetic option classes must be in [1, {len(SHAPES)}] ({', '.join(SHAPES)}), got {self.classes}")
        if not 0.0 <= self.dense <= 1.0:
            raise UserError(f"synthetic option dense must be in [0, 1], got {self.dense}")

    @property
    def names(self) -> list[str]:
        return list(SHAPES[: self.classes])


def parse_synthetic(spec: str) -> SyntheticSpec:
    """``synthetic`` or ``synthetic:n=400,val=100,imgsz=256,classes=3,seed=0,dense=0.5``."""
    allowed = {"n": int, "val": int, "imgsz": int, "classes": int, "seed": int, "dense": float}
    return SyntheticSpec(**parse_options(spec, "synthetic", allowed))


def parse_options(spec: str, head: str, allowed: dict[str, type]) -> dict[str, object]:
    """``head[:key=value,...]`` -> {key: typed value}; a bad key or value is a one-line UserError naming the spec."""
    given_head, _, options = spec.partition(":")
    if given_head != head:
        raise UserError(f"--data {spec!r}: expected '{head}[:key=value,...]'")
    values: dict[str, object] = {}
    for item in filter(None, options.split(",")):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in allowed:
            raise UserError(f"--data {spec!r}: bad option {item!r}, expected key=value with key in {', '.join(allowed)}")
        try:
            values[key] = allowed[key](value)
        except ValueError:
            raise UserError(f"--data {spec!r}: option {key} must be a {allowed[key].__name__}, got {value!r}") from None
    return values


@lru_cache(maxsize=None)
def _photo(name: str) -> np.ndarray:
    import cv2
    import skimage.data

    image = getattr(skimage.data, name)()
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2BGR)


def _background(rng: np.random.Generator, imgsz: int) -> np.ndarray:
    import cv2

    photo = _photo(PHOTOS[rng.integers(len(PHOTOS))])
    h, w = photo.shape[:2]
    side = int(min(h, w) * rng.uniform(0.4, 1.0))
    y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    crop = cv2.resize(photo[y : y + side, x : x + side], (imgsz, imgsz), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    gain = rng.uniform(0.6, 1.2, size=3)  # colour cast / brightness
    return np.clip(crop * gain, 0, 255).astype(np.uint8)


def _polygon(shape: str, cx: float, cy: float, rx: float, ry: float, angle: float) -> np.ndarray:
    if shape == "square":
        pts = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
    elif shape == "triangle":
        pts = [(0, -1), (1, 1), (-1, 1)]
    elif shape == "diamond":
        pts = [(0, -1), (1, 0), (0, 1), (-1, 0)]
    elif shape == "cross":
        a = 0.35
        pts = [(-a, -1), (a, -1), (a, -a), (1, -a), (1, a), (a, a), (a, 1), (-a, 1), (-a, a), (-1, a), (-1, -a), (-a, -a)]
    elif shape == "star":
        pts = [((1.0 if i % 2 == 0 else 0.45) * np.sin(i * np.pi / 5), -(1.0 if i % 2 == 0 else 0.45) * np.cos(i * np.pi / 5)) for i in range(10)]
    else:  # hexagon
        pts = [(np.cos(i * np.pi / 3), np.sin(i * np.pi / 3)) for i in range(6)]
    pts = np.array(pts, np.float64)
    c, s = np.cos(angle), np.sin(angle)
    pts = pts @ np.array([[c, s], [-s, c]])
    return np.round(pts * [rx, ry] + [cx, cy]).astype(np.int32)


def _draw(mask: np.ndarray, shape: str, cx: float, cy: float, rx: float, ry: float, angle: float) -> None:
    import cv2

    center = (int(round(cx)), int(round(cy)))
    axes = (max(int(round(rx)), 1), max(int(round(ry)), 1))
    if shape == "circle":
        cv2.ellipse(mask, center, axes, 0, 0, 360, 255, -1, cv2.LINE_AA)
    elif shape == "ring":
        cv2.ellipse(mask, center, axes, 0, 0, 360, 255, max(int(min(rx, ry) * 0.45), 2), cv2.LINE_AA)
    else:
        cv2.fillPoly(mask, [_polygon(shape, cx, cy, rx, ry, angle)], 255, cv2.LINE_AA)


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    lt = np.maximum(box[:2], boxes[:, :2])
    rb = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    return inter / (area(box) + area(boxes) - inter + 1e-9)


def render_scene(rng: np.random.Generator, imgsz: int, classes: int, regime: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One scene: ``(image (S, S, 3) BGR uint8, classes (N,), boxes (N, 4) xyxy pixels)``."""
    import cv2

    image = _background(rng, imgsz).astype(np.float32)
    if regime == "few-large":
        count, size_range, max_iou = int(rng.integers(1, 5)), (0.15, 0.5), 0.1
    else:
        count, size_range, max_iou = int(rng.integers(8, 25)), (0.04, 0.09), 0.0
    placed_cls: list[int] = []
    placed_box: list[np.ndarray] = []
    for _ in range(count * 20):
        if len(placed_cls) == count:
            break
        cls = int(rng.integers(classes))
        side = rng.uniform(*size_range) * imgsz
        aspect = rng.uniform(0.75, 1.33)
        rx, ry = side * np.sqrt(aspect) / 2, side / np.sqrt(aspect) / 2
        cx, cy = rng.uniform(rx + 1, imgsz - rx - 1), rng.uniform(ry + 1, imgsz - ry - 1)
        angle = rng.uniform(-0.25, 0.25)
        mask = np.zeros((imgsz, imgsz), np.uint8)
        _draw(mask, SHAPES[cls], cx, cy, rx, ry, angle)
        x, y, w, h = cv2.boundingRect(mask)
        if w < 3 or h < 3:
            continue
        box = np.array([x, y, x + w, y + h], np.float32)
        if placed_box and _iou(box, np.array(placed_box)).max() > max_iou:
            continue
        hue = rng.uniform(0, 180)
        colour = cv2.cvtColor(np.uint8([[[hue, rng.uniform(150, 255), rng.uniform(120, 255)]]]), cv2.COLOR_HSV2BGR)[0, 0]
        window = (slice(y, y + h), slice(x, x + w))
        alpha = (mask[window].astype(np.float32) / 255.0)[..., None]  # (h, w, 1)
        shade = np.linspace(0.8, 1.15, h, dtype=np.float32)[:, None, None]  # mild lighting gradient
        image[window] = image[window] * (1 - alpha) + alpha * np.clip(colour.astype(np.float32) * shade, 0, 255)
        placed_cls.append(cls)
        placed_box.append(box)
    image += rng.standard_normal(image.shape, dtype=np.float32) * 4  # sensor noise
    image = np.clip(image, 0, 255).astype(np.uint8)
    boxes = np.array(placed_box, np.float32).reshape(-1, 4)
    return image, np.array(placed_cls, np.int64), boxes


Render = Callable[[np.random.Generator, str], tuple[np.ndarray, np.ndarray, np.ndarray]]  # (rng, regime) -> image, classes, boxes px


def scene_set(rng: np.random.Generator, count: int, imgsz: int, dense: float, names: list[str], origin: str,
              render: Render) -> MemorySource:
    """``count`` scenes, each many-small with probability ``dense`` (else few-large), drawn by ``render``: the loop
    the synthetic and digits sets share."""
    images, labels, regimes = [], [], []
    for _ in range(count):
        regime = REGIMES[1] if rng.random() < dense else REGIMES[0]
        image, classes, boxes = render(rng, regime)
        images.append(image)
        labels.append(Labels(classes, boxes / imgsz))
        regimes.append(regime)
    return MemorySource(names, images, labels, regimes, origin=origin)


def fresh(source: MemorySource) -> MemorySource:
    """A new MemorySource over a cached one's images and labels (callers may set their own state on it)."""
    return MemorySource(source.names, source.images, source.labels, source.regimes, source.origin)


def generate(spec: SyntheticSpec, split: str = "train", count: int | None = None) -> MemorySource:
    """The ``split`` ("train", "val" or "demo") of a synthetic set; each split has its own random stream."""
    return fresh(_generate(spec, split, count))


@lru_cache(maxsize=8)
def _generate(spec: SyntheticSpec, split: str, count: int | None) -> MemorySource:
    count = count if count is not None else (spec.n if split == "train" else spec.val)
    rng = np.random.default_rng([spec.seed, SPLIT_STREAM[split]])
    return scene_set(rng, count, spec.imgsz, spec.dense, spec.names, f"synthetic {split}",
                     lambda rng, regime: render_scene(rng, spec.imgsz, spec.classes, regime))


def render_frames(count: int, imgsz: int = 256, classes: int = 3, seed: int = 1234) -> list[np.ndarray]:
    """Held-out scenes (never in train/val) as BGR uint8 frames, e.g. for a demo video."""
    source = generate(SyntheticSpec(imgsz=imgsz, classes=classes, seed=seed), "demo", count)
    return [source.image(i) for i in range(len(source))]


def write_yolo(spec: "SyntheticSpec | DigitsSpec", out: Path) -> Path:
    """Writes train and val of a synthetic or digits set in YOLO format (images/, labels/, data.yaml, regimes.json); returns data.yaml."""
    import cv2
    import yaml

    from edge_moe.data.digits import DigitsSpec, generate_digits
    from edge_moe.data.labels import format_label_rows

    out = Path(out)
    regimes: dict[str, str] = {}
    for split in ("train", "val"):
        source = generate_digits(spec, split) if isinstance(spec, DigitsSpec) else generate(spec, split)
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
        for i in range(len(source)):
            stem = f"{split}_{i:05d}"
            cv2.imwrite(str(out / "images" / split / f"{stem}.png"), source.image(i))
            labels = source.labels[i]
            (out / "labels" / split / f"{stem}.txt").write_text(format_label_rows(labels.classes, labels.boxes))
            regimes[f"images/{split}/{stem}.png"] = source.regimes[i]
    (out / "regimes.json").write_text(json.dumps(regimes, indent=0))
    data = {"path": ".", "train": "images/train", "val": "images/val", "names": spec.names, "regimes": "regimes.json"}
    yaml_path = out / "data.yaml"
    yaml_path.write_text(yaml.safe_dump(data, sort_keys=False))
    return yaml_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write the synthetic detection set in YOLO format, or the built-in X-ray classification set.")
    parser.add_argument("out", type=Path)
    parser.add_argument("--spec", default="synthetic", help="e.g. synthetic:n=400,val=100,imgsz=256,classes=3,seed=0, digits:n=400, or xray-builtin (ImageFolder)")
    args = parser.parse_args(argv)
    if args.spec == "xray-builtin":
        from edge_moe.data.xray_builtin import write_builtin

        print(write_builtin(args.out))
        return
    if args.spec.startswith("digits"):
        from edge_moe.data.digits import parse_digits

        print(write_yolo(parse_digits(args.spec), args.out))
        return
    print(write_yolo(parse_synthetic(args.spec), args.out))


if __name__ == "__main__":
    main()
