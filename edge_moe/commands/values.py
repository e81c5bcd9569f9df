"""One validation rule per kind of command-line value, shared by every subcommand so they agree.

Each is an argparse ``type=``: a bad value becomes the one-line ``edge-moe CMD: error: argument --x: ...``.
"""
from __future__ import annotations

import argparse
import math


def _number(text: str, kind: type) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """1, 2, ...: counts that cannot be zero (epochs, batch, frames, iterations)."""
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text}")
    return value


def non_negative_int(text: str) -> int:
    """0, 1, ...: counts where 0 means none or the library's default (threads, workers, warm-up)."""
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text}")
    return value


def probability(text: str) -> float:
    """A fraction in [0, 1] (confidence, IoU, augmentation probabilities)."""
    value = _number(text, float)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (learning rates, time-outs in seconds)."""
    value = _number(text, float)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0 (loss coefficients)."""
    value = _number(text, float)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def seconds_or_forever(text: str) -> float:
    """Seconds >= 0, or -1 for forever (nothing else below 0)."""
    value = _number(text, float)
    if value != -1 and value < 0:
        raise argparse.ArgumentTypeError(f"must be seconds >= 0 or -1 (forever), got {text}")
    return value


class OneLineParser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage block), like every other edge-moe error, and no abbreviated options
    (``--epoch`` for ``--epochs``), so the options given are exactly the ones written (``train --resume`` checks them)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")
