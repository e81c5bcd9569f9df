"""One JSON object per frame: frame, [source,] timestamp, latency_ms, fps, detections, experts.

Written at its final path and flushed after every frame, so ``tail -f`` follows a running stream and a
run stopped by a signal or a crash keeps every finished frame.
"""
from __future__ import annotations

import json
from pathlib import Path

from edge_moe.errors import UserError
from edge_moe.runtime.results import FrameResult


class JsonlSink:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.file = open(self.path, "w", encoding="utf-8")
        except OSError as error:
            raise UserError(f"{self.path}: cannot write ({error.strerror or type(error).__name__})") from None
        self.count = 0

    def write(self, result: FrameResult) -> None:
        self.file.write(json.dumps(result.to_record(), separators=(",", ":")) + "\n")
        self.file.flush()
        self.count += 1

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> "JsonlSink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
