"""Write next to the target under a unique temporary name, then os.replace: readers never see half a file.

The one atomic-write implementation of the project (``edge_moe.checkpoint`` and the exporters use it too):

    atomic_write(path, lambda tmp: tmp.write_text(text))     # one call: write, rename, clean up on failure

    temp = temp_path_for(path)                               # streaming sinks: a unique temp file beside path
    ...write to temp...
    commit(temp, path)                                       # or discard(temp) when the output is abandoned

Temporary names are ``.{stem}.partial.{random}{suffix}`` (made by ``mkstemp``, so two runs writing the same output
never share one; the suffix is kept because OpenCV and matplotlib pick the format from it). A path that cannot be
written is a one-line ``UserError`` naming it; a failed write removes its temporary file.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable, Union

from edge_moe.errors import UserError

PathLike = Union[str, Path]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would give: mkstemp makes 0600 files


def _cannot_write(path: Path, error: OSError) -> UserError:
    return UserError(f"{path}: cannot write ({error.strerror or type(error).__name__})")


def temp_path_for(path: PathLike) -> Path:
    """Creates a new, empty, uniquely named file beside ``path`` (making its folder) and returns its path."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"{path}: cannot create its folder ({error.strerror or type(error).__name__})") from None
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.stem}.partial.", suffix=path.suffix, dir=path.parent)
    except OSError as error:
        raise _cannot_write(path, error) from None
    try:
        os.fchmod(fd, _FILE_MODE)
    except OSError:
        pass
    finally:
        os.close(fd)
    return Path(temp)


def commit(temp: PathLike, path: PathLike) -> None:
    """Renames ``temp`` onto ``path``; if that fails, ``temp`` is removed and the error is a ``UserError``."""
    try:
        os.replace(temp, path)
    except OSError as error:
        discard(temp)
        raise _cannot_write(Path(path), error) from None


def discard(temp: PathLike) -> None:
    """Removes a temporary file that will not be committed (no error if it is already gone)."""
    try:
        Path(temp).unlink(missing_ok=True)
    except OSError:
        pass


def atomic_write(path: PathLike, write: Callable[[Path], None]) -> Path:
    """Calls ``write(tmp_path)`` then renames into place, so readers never see a half-written file.

    Any failure removes the temporary file; an ``OSError`` (unwritable folder, disk full) becomes a one-line
    ``UserError`` naming ``path``.
    """
    path = Path(path)
    temp = temp_path_for(path)
    try:
        write(temp)
    except OSError as error:
        discard(temp)
        raise _cannot_write(path, error) from None
    except BaseException:
        discard(temp)
        raise
    commit(temp, path)
    return path
