"""YOLO-format data sets described by a ``data.yaml`` (the Ultralytics layout).

    path: /data/shapes        # optional root, relative to the yaml's folder
    train: images/train       # a folder of images, a .txt list of image paths, a COCO .json, or a list of these
    val: images/val
    names: [circle, square]   # or {0: circle, 1: square}

Labels sit next to the images with ``/images/`` replaced by ``/labels/`` and a ``.txt`` suffix.
A split may also be a COCO JSON file (see :mod:`edge_moe.data.coco`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from edge_moe.data.labels import parse_label_file
from edge_moe.data.samples import FileSource
from edge_moe.errors import UserError
from edge_moe.runtime.sources.files import IMAGE_SUFFIXES

REQUIRED_KEYS = ("train", "val", "names")


def read_data_yaml(path: Path) -> dict[str, Any]:
    import yaml

    if not path.is_file():
        raise UserError(f"{path}: data.yaml not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise UserError(f"{path}{where}: not valid YAML ({getattr(error, 'problem', None) or 'parse error'})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping with keys {', '.join(REQUIRED_KEYS)} (and optional path)")
    missing = [key for key in REQUIRED_KEYS if key not in data or data[key] in (None, "")]
    if missing:
        raise UserError(f"{path}: missing key(s) {', '.join(missing)} (expected path, train, val, names)")
    return data


def class_names(path: Path, names: Any) -> list[str]:
    """``names`` as a list or a {index: name} mapping with indices 0..N-1."""
    if isinstance(names, dict):
        keys = sorted(names)
        if keys != list(range(len(keys))):
            raise UserError(f"{path}: names keys must be the class ids 0..{len(keys) - 1}, got {keys}")
        names = [names[k] for k in keys]
    if not isinstance(names, list) or not names or not all(isinstance(n, (str, int)) for n in names):
        raise UserError(f"{path}: names must be a non-empty list of class names or a {{id: name}} mapping")
    return [str(n) for n in names]


def dataset_root(path: Path, data: dict[str, Any]) -> Path:
    root = Path(str(data.get("path") or "."))
    root = root if root.is_absolute() else (path.parent / root)
    if not root.is_dir():
        raise UserError(f"{path}: path {root} is not a directory")
    return root


def split_entries(path: Path, data: dict[str, Any], split: str) -> list[Path]:
    """Resolves the ``train``/``val`` entry of a data.yaml: one path or a list of them (Ultralytics); each must exist."""
    value = data[split]
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) and v for v in values):
        raise UserError(f"{path}: {split} must be a path or a list of paths (folders, .txt lists or COCO .json), got {value!r}")
    entries = []
    for text in values:
        entry = Path(text)
        entry = entry if entry.is_absolute() else dataset_root(path, data) / entry
        if not entry.exists():
            raise UserError(f"{path}: {split} path {entry} does not exist")
        entries.append(entry)
    return entries


def list_images(entry: Path, yaml_path: Path, split: str) -> list[Path]:
    if entry.is_dir():
        images = sorted(p for p in entry.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    else:
        images = []
        for line_no, line in enumerate(entry.read_text().splitlines(), start=1):
            line = line.strip()
            if not line:
                continue
            image = Path(line) if Path(line).is_absolute() else entry.parent / line
            if image.suffix.lower() not in IMAGE_SUFFIXES:
                raise UserError(f"{entry}:{line_no}: expected an image path ({', '.join(IMAGE_SUFFIXES)}), got {line!r}")
            images.append(image)
    if not images:
        raise UserError(f"{yaml_path}: {split} split {entry} has no images ({', '.join(IMAGE_SUFFIXES)})")
    return images


def label_path(image: Path) -> Path:
    """``.../images/x.jpg`` -> ``.../labels/x.txt`` (the last ``images`` folder is swapped)."""
    parts = list(image.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            return Path(*parts).with_suffix(".txt")
    return image.with_suffix(".txt")


def load_yolo_split(yaml_path: Path, entry: Path, split: str, names: list[str]) -> FileSource:
    """One folder or .txt list of a split, with the labels beside its images."""
    images = list_images(entry, yaml_path, split)
    labels = [parse_label_file(label_path(image), len(names)) for image in images]
    return FileSource(names, images, labels, origin=f"{yaml_path} {split}")
