"""Checks on a run's output paths, made before the first frame: an output never replaces the source, a
file of the bundle or another output of the same run, and every one can be written."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Optional, Sequence, Union

from edge_moe.errors import UserError
from edge_moe.runtime.sinks.atomic import discard, temp_path_for
from edge_moe.runtime.sources import Source


def is_folder(path: str | Path) -> bool:
    """``--save DIR/`` (a trailing slash or an existing folder) asks for a folder, not a file."""
    return str(path).endswith(("/", "\\")) or Path(path).is_dir()


def source_files(source: Source) -> list[Path]:
    """The local files a source reads (none for cameras and streams)."""
    paths = getattr(source, "paths", None) or ([source.path] if getattr(source, "path", None) else [])
    return [Path(p).resolve() for p in paths]


def check_outputs(outputs: dict[str, Optional[Path]], source: Union[Source, Sequence[Source]], bundle_root: Path,
                  folders: Sequence[str] = ()) -> None:
    """``outputs``: option name -> path (None: not requested); ``source``: the run's source(s); ``folders``: the options
    that name a folder."""
    sources = {path for one in (source if isinstance(source, (list, tuple)) else [source]) for path in source_files(one)}
    bundle = bundle_root.resolve()
    seen: dict[Path, str] = {}
    for option, path in outputs.items():
        if path is None:
            continue
        target = Path(path).resolve()
        if target in sources:
            raise UserError(f"{option} {path}: is the source of this run; refusing to overwrite it (choose another path)")
        if option in folders and any(s.parent == target for s in sources):
            raise UserError(f"{option} {path}: holds the source images, which the annotated ones would replace (choose another folder)")
        if target == bundle or bundle in target.parents:
            raise UserError(f"{option} {path}: is inside the bundle {bundle_root}; refusing to write there (choose another path)")
        if target in seen:
            raise UserError(f"{option} and {seen[target]} name the same file {path}; give each output its own path")
        seen[target] = option
        if option not in folders:
            discard(temp_path_for(target))  # makes its folder and proves it can be written, before any frame
    if outputs.get("--plot") is not None and importlib.util.find_spec("matplotlib") is None:
        raise UserError("--plot needs matplotlib: pip install 'edge-moe[runtime]'")
