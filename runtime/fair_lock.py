"""A first-come, first-served lock: the runner's one-inference-at-a-time lock, so that several sources sharing one
model take turns (a plain ``threading.Lock`` lets the thread that just released it take it again at once, and a
source whose next frame is always ready could starve the others)."""
from __future__ import annotations

import threading


class FairLock:
    """Granted in the order it was asked for (ticket order); a context manager like ``threading.Lock``."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._next_ticket = 0
        self._serving = 0

    def __enter__(self) -> "FairLock":
        with self._cond:
            ticket = self._next_ticket
            self._next_ticket += 1
            while ticket != self._serving:
                self._cond.wait()
        return self

    def __exit__(self, *exc) -> None:
        with self._cond:
            self._serving += 1
            self._cond.notify_all()
