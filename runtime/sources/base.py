"""The source interface: ``read(timeout)`` gives the next :class:`Frame`, or None at the end."""
from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Iterator, Optional

import numpy as np


@dataclass
class Frame:
    image: np.ndarray  # (H, W, 3) BGR, or (H, W) gray; as the source decoded it
    index: int  # position in the source; gaps mean stale frames were dropped
    timestamp: float  # time.time() at capture
    path: Optional[str] = None  # the image file it came from (image sources)


class Source(ABC):
    """A stream of frames. Live sources keep only the latest frame; file sources give every frame."""

    live: bool = False
    description: str = ""
    error: Optional[str] = None  # why the source ended early (None: normal end of stream)

    @abstractmethod
    def read(self, timeout: Optional[float] = None) -> Optional[Frame]:
        """The next frame; None when the source is exhausted or closed. Never blocks past ``timeout``
        seconds without returning (a live source then returns None only if it gave up)."""

    def close(self) -> None:
        """Releases the device/file; safe to call twice and from another thread."""

    def stats(self) -> dict:
        """Counters for the summary (frames read, dropped, reconnects, unreadable)."""
        return {}

    def __iter__(self) -> Iterator[Frame]:
        while True:
            frame = self.read()
            if frame is None:
                return
            yield frame

    def __enter__(self) -> "Source":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LatestSlot:
    """Holds only the newest frame; a frame replaced before anyone took it counts as dropped."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Optional[Frame] = None
        self._closed = False
        self.dropped = 0

    def put(self, frame: Frame) -> None:
        with self._cond:
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
            self._cond.notify_all()

    def take(self, timeout: Optional[float]) -> Optional[Frame]:
        """Waits up to ``timeout`` s for a frame; None on timeout or once closed and empty."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._frame is None and not self._closed:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining if remaining is not None else 0.5)
            frame, self._frame = self._frame, None
            return frame

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
