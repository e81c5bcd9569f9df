"""A bounded background stage: decode + preprocess the next frames of a file while the model runs."""
from __future__ import annotations

import queue
import threading
import time
from typing import Callable, Generic, Optional, TypeVar

from edge_moe.runtime.sources.base import Frame, Source

T = TypeVar("T")
_END = object()


class Prefetcher(Generic[T]):
    """Runs ``prepare(frame)`` for every frame of ``source`` in a thread, at most ``depth`` ahead,
    in order. ``get()`` returns the next prepared item, or None at the end; errors are re-raised."""

    def __init__(self, source: Source, prepare: Callable[[Frame], T], depth: int = 4):
        self.source = source
        self.prepare = prepare
        self.queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._work, name="edge-moe prefetch", daemon=True)
        self.thread.start()

    def _put(self, item) -> bool:
        while not self.stop_event.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _work(self) -> None:
        try:
            while not self.stop_event.is_set():
                frame = self.source.read()
                if frame is None:
                    break
                item = self.prepare(frame)
                if item is not None and not self._put(item):  # None: a frame prepare chose to skip
                    return
        except BaseException as error:  # handed to the consumer, raised there
            self._put(error)
            return
        self._put(_END)

    def get(self) -> Optional[T]:
        while True:
            try:
                item = self.queue.get(timeout=0.1)
            except queue.Empty:
                if not self.thread.is_alive() and self.queue.empty():
                    return None
                continue
            if item is _END:
                return None
            if isinstance(item, BaseException):
                raise item
            return item

    def take(self, count: int) -> list[T]:
        """The next ``count`` prepared items, fewer at the end of the source."""
        items = []
        while len(items) < count:
            item = self.get()
            if item is None:
                break
            items.append(item)
        return items

    def close(self) -> None:
        self.stop_event.set()
        if threading.current_thread() is not self.thread:
            deadline = time.monotonic() + 5.0
            while self.thread.is_alive() and time.monotonic() < deadline:
                try:  # unblock a put on a full queue
                    self.queue.get_nowait()
                except queue.Empty:
                    self.thread.join(0.05)
