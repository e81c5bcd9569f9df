"""``--show``: an OpenCV window (needs a GUI OpenCV build and a display); q or Esc stops the run."""
from __future__ import annotations

import os
import sys

import cv2
import numpy as np

from edge_moe.errors import UserError


class WindowSink:
    def __init__(self, title: str = "edge-moe"):
        self.title = title
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise UserError("--show needs a display (DISPLAY is not set; over ssh use -X, or write --save out.mp4 instead)")
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        except cv2.error:
            raise UserError("--show needs OpenCV with GUI support and a display (pip's opencv-python-headless has none; "
                            "use opencv-python or the system OpenCV, or write --save out.mp4 instead)") from None
        self.closed_by_user = False

    def write(self, image: np.ndarray) -> bool:
        """Shows the frame; False once the user pressed q / Esc."""
        cv2.imshow(self.title, image)
        if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
            self.closed_by_user = True
        return not self.closed_by_user

    def close(self) -> None:
        try:
            cv2.destroyWindow(self.title)
        except cv2.error:
            pass
