"""YOLO label files: one ``class cx cy w h`` row per box, normalised to [0, 1].

Every problem is a one-line UserError naming ``file:line``, the value and what was expected.
A missing label file means an image without objects (allowed).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_moe.data.samples import Labels
from edge_moe.errors import UserError


def parse_label_file(path: Path, num_classes: int) -> Labels:
    """Reads and validates one label file; returns normalised xyxy boxes."""
    path = Path(path)
    if not path.is_file():
        return Labels.empty()
    classes, boxes = [], []
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: unreadable label file ({type(error).__name__})") from None
    for line_no, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"{path}:{line_no}"
        if len(fields) != 5:
            raise UserError(f"{where}: expected 5 columns 'class cx cy w h', got {len(fields)}")
        try:
            values = [float(v) for v in fields]
        except ValueError:
            raise UserError(f"{where}: expected numbers 'class cx cy w h', got {line.strip()!r}") from None
        cls = values[0]
        if cls != int(cls) or not 0 <= cls < num_classes:
            raise UserError(f"{where}: class id {fields[0]} out of range, expected an integer in [0, {num_classes - 1}] ({num_classes} classes in names)")
        cx, cy, w, h = values[1:]
        if not all(0.0 <= v <= 1.0 for v in (cx, cy, w, h)):
            raise UserError(f"{where}: coordinates must be normalised to [0, 1], got {' '.join(fields[1:])}")
        if w <= 0 or h <= 0:
            raise UserError(f"{where}: box width and height must be > 0, got w={fields[3]} h={fields[4]}")
        box = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
        if min(box) < -1e-3 or max(box) > 1 + 1e-3:
            raise UserError(f"{where}: box extends outside the image (cx +- w/2, cy +- h/2 must stay in [0, 1])")
        classes.append(int(cls))
        boxes.append(np.clip(box, 0.0, 1.0))
    if not classes:
        return Labels.empty()
    return Labels(np.array(classes, np.int64), np.array(boxes, np.float32))


def format_label_rows(classes: np.ndarray, boxes_xyxy_norm: np.ndarray) -> str:
    """The inverse of :func:`parse_label_file`: label-file text for normalised xyxy boxes."""
    rows = []
    for cls, (x1, y1, x2, y2) in zip(classes.tolist(), boxes_xyxy_norm.tolist()):
        rows.append(f"{cls} {(x1 + x2) / 2:.6f} {(y1 + y2) / 2:.6f} {x2 - x1:.6f} {y2 - y1:.6f}")
    return "\n".join(rows) + ("\n" if rows else "")
