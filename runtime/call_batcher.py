"""Frames from several threads in shared calls: how the sources of a ``MultiStream`` fill a batched bundle's calls.

Each stream thread hands its prepared frame to :meth:`CallBatcher.infer` and waits for its result. While no call runs,
the thread that arrives takes up to ``batch`` waiting frames, oldest first (its own among them or ahead of it) and runs
them as one call; frames that arrive meanwhile wait for the next. Nobody lingers for a batch to fill, so a single
source sees no added latency, and a batch-1 bundle gets one call per frame in arrival order, as before.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, ContextManager, Optional, Sequence

from edge_moe.runtime.preprocess import Prepared
from edge_moe.runtime.results import FrameResult

RunCall = Callable[[Sequence[Prepared], Sequence[float]], list[FrameResult]]  # (frames, capture ms each) -> results


@dataclass
class _Request:
    prepared: Prepared
    capture_ms: float
    result: Optional[FrameResult] = None
    error: Optional[BaseException] = None

    @property
    def done(self) -> bool:
        return self.result is not None or self.error is not None


class CallBatcher:
    """Groups frames handed in by several threads into calls of at most ``batch`` frames, run under ``lock``."""

    def __init__(self, run: RunCall, batch: int, lock: ContextManager):
        self.run, self.batch, self.lock = run, batch, lock
        self._cond = threading.Condition()
        self._waiting: list[_Request] = []
        self._running = False

    def infer(self, prepared: Prepared, capture_ms: float = 0.0) -> FrameResult:
        request = _Request(prepared, capture_ms)
        with self._cond:
            self._waiting.append(request)
            while not request.done:
                if self._running:
                    self._cond.wait()
                    continue
                self._running = True
                call, self._waiting = self._waiting[: self.batch], self._waiting[self.batch :]
                self._cond.release()
                try:
                    self._run(call)
                finally:
                    self._cond.acquire()
                    self._running = False
                    self._cond.notify_all()
        if request.error is not None:
            raise request.error
        return request.result

    def _run(self, call: list[_Request]) -> None:
        try:
            with self.lock:
                results = self.run([r.prepared for r in call], [r.capture_ms for r in call])
            for request, result in zip(call, results):
                request.result = result
        except BaseException as error:  # every frame of the call gets it, in its own thread
            for request in call:
                request.error = error
