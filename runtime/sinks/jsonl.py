"""One JSON object per frame: frame, timestamp, latency_ms, fps, detections, experts."""
from __future__ import annotations

import json
from pathlib import Path

from edge_moe.errors import UserError
from edge_moe.runtime.results import FrameResult
from edge_moe.runtime.sinks.atomic import commit, discard, temp_path_for


class JsonlSink:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.temp = temp_path_for(self.path)
        try:
            self.file = open(self.temp, "w", encoding="utf-8")
        except OSError as error:
            discard(self.temp)
            raise UserError(f"{self.path}: cannot write ({error.strerror})") from None
        self.count = 0

    def write(self, result: FrameResult) -> None:
        self.file.write(json.dumps(result.to_record(), separators=(",", ":")) + "\n")
        self.count += 1

    def close(self) -> None:
        if self.file.closed:
            return
        self.file.close()
        commit(self.temp, self.path)

    def __enter__(self) -> "JsonlSink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
