"""Write next to the target under a temporary name, then os.replace: readers never see half a file."""
from __future__ import annotations

import os
from pathlib import Path

from edge_moe.errors import UserError


def temp_path_for(path: Path) -> Path:
    path = Path(path)
    if path.parent and not path.parent.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UserError(f"{path}: cannot create its folder ({error.strerror})") from None
    return path.with_name(f".{path.stem}.partial{path.suffix}")


def commit(temp: Path, path: Path) -> None:
    os.replace(temp, path)
