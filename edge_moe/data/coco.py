"""COCO-format annotations (``instances_*.json``): images, annotations with xywh pixel boxes, categories.

Category ids are mapped to contiguous class indices in ascending id order; crowd annotations are
skipped (COCO evaluation ignores them too). Image files are looked up relative to ``images_dir``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import numpy as np

from edge_moe.data.samples import FileSource, Labels
from edge_moe.errors import UserError


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UserError(f"{path}: COCO annotation file not found")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a COCO object with images, annotations, categories")
    missing = [k for k in ("images", "annotations", "categories") if not isinstance(data.get(k), list)]
    if missing:
        raise UserError(f"{path}: missing COCO list(s) {', '.join(missing)} (expected images, annotations, categories)")
    return data


def coco_images_dir(json_path: Path) -> Path:
    """Default image folder: ``images/`` next to the JSON if it exists, else the JSON's folder."""
    sibling = json_path.parent / "images"
    return sibling if sibling.is_dir() else json_path.parent


def load_coco(json_path: Path, images_dir: Optional[Path] = None, names: Optional[list[str]] = None) -> FileSource:
    """Reads a COCO JSON into a FileSource; ``names`` (from a data.yaml) must match its categories."""
    json_path = Path(json_path)
    data = _read_json(json_path)
    images_dir = Path(images_dir) if images_dir is not None else coco_images_dir(json_path)
    categories = sorted(data["categories"], key=lambda c: c.get("id", 0))
    if not categories or any("id" not in c or "name" not in c for c in categories):
        raise UserError(f"{json_path}: categories must be a non-empty list of {{id, name}} objects")
    class_of = {c["id"]: i for i, c in enumerate(categories)}
    coco_names = [str(c["name"]) for c in categories]
    if names is not None and names != coco_names:
        raise UserError(f"{json_path}: categories {coco_names} do not match data.yaml names {names}")
    images = {}
    for i, image in enumerate(data["images"]):
        if not all(k in image for k in ("id", "file_name", "width", "height")):
            raise UserError(f"{json_path}: images[{i}] needs id, file_name, width, height")
        images[image["id"]] = image
    if not images:
        raise UserError(f"{json_path}: no images (the split is empty)")
    rows: dict[Any, list[tuple[int, list[float]]]] = {image_id: [] for image_id in images}
    for i, ann in enumerate(data["annotations"]):
        where = f"{json_path}: annotations[{i}] (id {ann.get('id', '?')})"
        if ann.get("iscrowd", 0):
            continue
        if ann.get("image_id") not in images:
            raise UserError(f"{where}: image_id {ann.get('image_id')!r} is not in images")
        if ann.get("category_id") not in class_of:
            raise UserError(f"{where}: category_id {ann.get('category_id')!r} is not in categories {sorted(class_of)}")
        bbox = ann.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4 or not all(isinstance(v, (int, float)) for v in bbox):
            raise UserError(f"{where}: bbox must be 4 numbers [x, y, w, h], got {bbox!r}")
        image = images[ann["image_id"]]
        x, y, w, h = bbox
        if w <= 0 or h <= 0 or x < -1 or y < -1 or x + w > image["width"] + 1 or y + h > image["height"] + 1:
            raise UserError(f"{where}: bbox {bbox} is outside image {image['width']}x{image['height']} or empty")
        norm = [x / image["width"], y / image["height"], (x + w) / image["width"], (y + h) / image["height"]]
        rows[ann["image_id"]].append((class_of[ann["category_id"]], norm))
    order = sorted(images)
    paths = [images_dir / images[i]["file_name"] for i in order]
    labels = []
    for image_id in order:
        boxes = rows[image_id]
        if not boxes:
            labels.append(Labels.empty())
            continue
        labels.append(Labels(np.array([c for c, _ in boxes], np.int64), np.clip(np.array([b for _, b in boxes], np.float32), 0, 1)))
    regimes = [images[i].get("regime") for i in order]
    has_regimes = all(isinstance(r, str) for r in regimes)
    return FileSource(coco_names, paths, labels, regimes if has_regimes else None, origin=str(json_path))
