"""``--save DIR/`` for image sources: one annotated image per source image, under the source's file name."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import cv2
import numpy as np

from edge_moe.errors import UserError
from edge_moe.runtime.sinks.atomic import atomic_write


class ImageFolderSink:
    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UserError(f"{self.folder}: cannot create this folder ({error.strerror or type(error).__name__})") from None
        self.written: set[str] = set()
        self.count = 0

    def write(self, image: np.ndarray, source: Optional[str], index: int) -> Path:
        """Writes ``image`` as ``folder/<source file name>`` (``<stem>_<index>`` when two sources share a name)."""
        name = Path(source).name if source else f"frame_{index:06d}.jpg"
        if name in self.written:
            name = f"{Path(name).stem}_{index}{Path(name).suffix}"
        path = self.folder / name

        def encode(temp: Path) -> None:
            if not cv2.imwrite(str(temp), image):
                raise UserError(f"{path}: OpenCV cannot write {path.suffix} images")

        atomic_write(path, encode)
        self.written.add(name)
        self.count += 1
        return path

    def close(self) -> None:
        pass
