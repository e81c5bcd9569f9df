"""Live sources (cameras, RTSP/HTTP streams, GStreamer): a reader thread keeps only the newest frame
and reconnects with backoff when the stream drops, so latency never grows with a slow model."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

import cv2

from edge_moe.errors import UserError
from edge_moe.runtime.sources.base import Frame, LatestSlot, Source

log = logging.getLogger("edge_moe.runtime")

Opener = Callable[[], Optional[cv2.VideoCapture]]  # an opened capture, or None when it cannot open


@dataclass(frozen=True)
class RetryPolicy:
    """How long a live source keeps trying to (re)connect before it gives up; None = forever."""

    retry_for_s: Optional[float] = 10.0
    first_delay_s: float = 0.25
    max_delay_s: float = 5.0

    def delays(self):
        delay = self.first_delay_s
        while True:
            yield delay
            delay = min(delay * 2, self.max_delay_s)


class LiveSource(Source):
    live = True

    def __init__(self, opener: Opener, description: str, retry: RetryPolicy = RetryPolicy()):
        self.description = description
        self.retry = retry
        self._opener = opener
        self._slot = LatestSlot()
        self._stop = threading.Event()
        self.frames_read = 0
        self.reconnects = 0
        self.error: Optional[str] = None
        self._cap = self._connect(first=True)
        if self._cap is None:
            raise UserError(self.error or f"{description}: cannot open")
        self._thread = threading.Thread(target=self._reader, name=f"edge-moe reader {description}", daemon=True)
        self._thread.start()

    def _connect(self, first: bool) -> Optional[cv2.VideoCapture]:
        """Opens the capture, retrying with exponential backoff within the retry window."""
        started = time.monotonic()
        attempt = 0
        for delay in self.retry.delays():
            attempt += 1
            cap = self._opener()
            if cap is not None:
                if not first:
                    self.reconnects += 1
                    log.warning("%s: reconnected after %d attempt(s), %.1f s", self.description, attempt, time.monotonic() - started)
                return cap
            waited = time.monotonic() - started
            if self._stop.is_set() or (self.retry.retry_for_s is not None and waited + delay > self.retry.retry_for_s):
                self.error = f"{self.description}: cannot {'open' if first else 'reconnect'} (gave up after {attempt} attempt(s), {waited:.1f} s)"
                return None
            log.warning("%s: cannot %s (attempt %d), retrying in %.2f s", self.description, "open" if first else "reconnect", attempt, delay)
            if self._stop.wait(delay):
                return None
        return None

    def _reader(self) -> None:
        cap = self._cap
        last_frame_at, opened_empty = time.monotonic(), False  # opened_empty: reconnected, no frame since
        try:
            while not self._stop.is_set():
                ok, image = cap.read()
                if self._stop.is_set():
                    break
                if ok and image is not None and image.size:
                    self._slot.put(Frame(image, self.frames_read, time.time()))
                    self.frames_read += 1
                    last_frame_at, opened_empty = time.monotonic(), False
                    continue
                cap.release()
                cap = None
                silent = time.monotonic() - last_frame_at
                if opened_empty and self.retry.retry_for_s is not None and silent > self.retry.retry_for_s:
                    # it reconnects but sends nothing (a server with no camera behind it): give up too
                    self.error = f"{self.description}: no frames for {silent:.1f} s although it reconnects; gave up"
                    break
                log.warning("%s: stream dropped after %d frames, reconnecting", self.description, self.frames_read)
                cap = self._connect(first=False)
                opened_empty = True
                if cap is None:
                    break
        finally:
            if cap is not None:
                cap.release()
            self._slot.close()

    def read(self, timeout: Optional[float] = None) -> Optional[Frame]:
        """The newest frame not yet returned; waits while the stream reconnects."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            frame = self._slot.take(0.5 if remaining is None else min(remaining, 0.5))
            if frame is not None or self._slot.closed:
                return frame
            if deadline is not None and time.monotonic() >= deadline:
                return None

    def close(self) -> None:
        self._stop.set()
        self._slot.close()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=2.0)  # a read stuck in a driver is left to its timeout (daemon thread)

    def stats(self) -> dict:
        return {"read": self.frames_read, "dropped": self._slot.dropped, "reconnects": self.reconnects}
