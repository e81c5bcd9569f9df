"""What a command was given as its model: a bundle directory, a checkpoint file or a zoo name (torch-free).

The one rule ``info``, ``bench`` and ``export`` apply, so they agree: an existing directory is a
bundle, an existing file (or any ``.pt`` path) a checkpoint, a bare name a zoo model; a path that
does not exist is a one-line error rather than a "did you mean" among the zoo names.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from edge_moe.errors import UserError

SourceKind = Literal["bundle", "checkpoint", "zoo"]


def source_kind(text: str) -> SourceKind:
    path = Path(text)
    if path.is_dir():
        return "bundle"
    if path.is_file():
        return "checkpoint"
    if "/" in text or path.suffix:
        raise UserError(f"{text}: no such file or directory (expected a zoo name, a checkpoint .pt or a bundle directory)")
    return "zoo"
