"""A source fed by someone else's callback (a drone SDK, a ROS subscriber): ``push(image)``."""
from __future__ import annotations

import time
from typing import Optional

import numpy as np

from edge_moe.runtime.sources.base import Frame, LatestSlot, Source


class PushSource(Source):
    """Frames arrive through :meth:`push` from any thread; the consumer gets the newest one.

    Frames pushed faster than the model runs are dropped (counted), like any live source.
    Call :meth:`close` to end the stream.
    """

    live = True

    def __init__(self, description: str = "push feed"):
        self.description = description
        self._slot = LatestSlot()
        self.pushed = 0
        self.error: Optional[str] = None

    def push(self, image: np.ndarray, timestamp: Optional[float] = None) -> None:
        """Hands one frame (H, W[, C]) uint8 to the runtime; never blocks."""
        if self._slot.closed:
            return
        self._slot.put(Frame(image, self.pushed, time.time() if timestamp is None else timestamp))
        self.pushed += 1

    def read(self, timeout: Optional[float] = None) -> Optional[Frame]:
        while True:
            frame = self._slot.take(0.5 if timeout is None else timeout)
            if frame is not None or self._slot.closed or timeout is not None:
                return frame

    def close(self) -> None:
        self._slot.close()

    def stats(self) -> dict:
        return {"read": self.pushed, "dropped": self._slot.dropped}
