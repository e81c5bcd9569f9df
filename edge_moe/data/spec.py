"""``--data SPEC``: ``synthetic[:options]``, ``digits[:options]``, a YOLO ``data.yaml``, or a COCO ``.json``.

A bare COCO JSON is split deterministically: images sorted by id, the last 10 % are ``val``
(``edge-moe val`` on a bare JSON evaluates on all of it).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from edge_moe.data.coco import load_coco
from edge_moe.data.digits import generate_digits, parse_digits
from edge_moe.data.samples import FileSource, SampleSource
from edge_moe.data.synthetic import generate, parse_synthetic
from edge_moe.data.yolo import class_names, load_yolo_split, read_data_yaml, split_entries
from edge_moe.errors import UserError

BARE_JSON_VAL_FRACTION = 0.1


@dataclass
class DataSet:
    names: list[str]
    splits: dict[str, SampleSource]
    spec: str

    def split(self, name: str) -> SampleSource:
        return self.splits[name]


def load_data(spec: str, splits: Sequence[str] = ("train", "val"), check_images: bool = True) -> DataSet:
    """Loads and validates the requested splits; every problem is a one-line UserError."""
    spec = str(spec)
    if spec == "synthetic" or spec.startswith("synthetic:"):
        options = parse_synthetic(spec)
        return DataSet(options.names, {s: generate(options, s) for s in splits}, spec)
    if spec == "digits" or spec.startswith("digits:"):
        digits = parse_digits(spec)
        return DataSet(digits.names, {s: generate_digits(digits, s) for s in splits}, spec)
    path = Path(spec)
    if path.suffix.lower() == ".json":
        return _bare_coco(path, splits, check_images, spec)
    if path.suffix.lower() in (".yaml", ".yml") or path.is_file():
        return _data_yaml(path, splits, check_images, spec)
    from edge_moe.data.imagefolder import is_image_folder  # imports this module: not at the top
    if is_image_folder(spec):
        raise UserError(f"--data {spec}: an ImageFolder (classification) directory; detectors expect 'synthetic[:options]', a data.yaml or a COCO .json file")
    raise UserError(f"--data {spec!r}: expected 'synthetic[:options]', 'digits[:options]', a data.yaml or a COCO .json file")


def _data_yaml(path: Path, splits: Sequence[str], check_images: bool, spec: str) -> DataSet:
    data = read_data_yaml(path)
    names = class_names(path, data["names"])
    regimes = _regimes(path, data)
    sources: dict[str, SampleSource] = {}
    for split in splits:
        parts = [_entry_source(path, data, split, entry, names) for entry in split_entries(path, data, split)]
        source = parts[0] if len(parts) == 1 else FileSource(
            names, [p for part in parts for p in part.paths], [label for part in parts for label in part.labels], origin=f"{path} {split}")
        if regimes is not None:
            root = (path.parent / str(data.get("path") or ".")).resolve()
            keys = [_relative(p, root) for p in source.paths]
            if all(k in regimes for k in keys):
                source.regimes = [regimes[k] for k in keys]
        if check_images:
            source.check_images()
        sources[split] = source
    return DataSet(names, sources, spec)


def _entry_source(path: Path, data: dict, split: str, entry: Path, names: list[str]) -> FileSource:
    """One entry of a split: a COCO .json (images under the yaml's ``images:``, else beside the JSON) or YOLO files."""
    if entry.suffix.lower() == ".json":
        images_dir = data.get("images")
        return load_coco(entry, (path.parent / str(images_dir)) if images_dir else None, names)
    return load_yolo_split(path, entry, split, names)


def _relative(image: Path, root: Path) -> str:
    try:
        return image.resolve().relative_to(root).as_posix()
    except ValueError:
        return image.as_posix()


def _regimes(path: Path, data: dict) -> Optional[dict[str, str]]:
    """Optional ``regimes:`` file: JSON {image path relative to ``path``: regime name}."""
    if not data.get("regimes"):
        return None
    file = path.parent / str(data.get("path") or ".") / str(data["regimes"])
    try:
        regimes = json.loads(file.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise UserError(f"{path}: regimes file {file} is unreadable ({type(error).__name__})") from None
    if not isinstance(regimes, dict):
        raise UserError(f"{file}: expected a JSON object {{image path: regime name}}")
    return {str(k): str(v) for k, v in regimes.items()}


def _bare_coco(path: Path, splits: Sequence[str], check_images: bool, spec: str) -> DataSet:
    source = load_coco(path)
    if check_images:
        source.check_images()
    if tuple(splits) == ("val",):
        return DataSet(source.names, {"val": source}, spec)
    n_val = max(1, int(round(len(source) * BARE_JSON_VAL_FRACTION)))
    if len(source) - n_val < 1:
        raise UserError(f"{path}: {len(source)} image(s) are too few to split into train and val")
    parts = {"train": range(0, len(source) - n_val), "val": range(len(source) - n_val, len(source))}
    out = {}
    for split in splits:
        idx = list(parts[split])
        regimes = [source.regimes[i] for i in idx] if source.regimes is not None else None
        out[split] = FileSource(source.names, [source.paths[i] for i in idx], [source.labels[i] for i in idx], regimes, f"{path} {split}")
    return DataSet(source.names, out, spec)
