"""torch's intra-op thread count for a block of work: the one context manager train, export and tests use."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from edge_moe.errors import UserError


@contextmanager
def torch_threads(count: int, option: str = "--threads") -> Iterator[None]:
    """Sets torch's intra-op thread count inside the block and restores it after; 0 leaves it alone.

    A negative ``count`` is a :class:`UserError` that names ``option`` (the CLI flag or field it came from).
    """
    if count < 0:
        raise UserError(f"{option} must be >= 0 (0: torch's default), got {count}")
    import torch

    previous = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
