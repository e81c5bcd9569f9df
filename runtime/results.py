"""What the runtime hands back: validated numpy dataclasses, one :class:`FrameResult` per frame."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Sequence, Union

import numpy as np


@dataclass
class Detections:
    """Boxes of one frame in original-frame pixels, as parallel numpy arrays.

    Index with a boolean mask, an index array or a slice to get a filtered copy:
    ``dets[dets.confidence > 0.5]``, ``dets[dets.class_id == 2]``.
    """

    xyxy: np.ndarray  # (N, 4) float32, x1 y1 x2 y2
    confidence: np.ndarray  # (N,) float32
    class_id: np.ndarray  # (N,) int64
    class_names: Sequence[str] = ()  # the model's class list; names of boxes via .names

    def __post_init__(self) -> None:
        self.xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)
        self.confidence = np.asarray(self.confidence, dtype=np.float32).reshape(-1)
        self.class_id = np.asarray(self.class_id, dtype=np.int64).reshape(-1)
        n = len(self.xyxy)
        if len(self.confidence) != n or len(self.class_id) != n:
            raise ValueError(f"Detections arrays disagree: xyxy {n}, confidence {len(self.confidence)}, class_id {len(self.class_id)}")
        if n and self.class_names and (self.class_id.min() < 0 or self.class_id.max() >= len(self.class_names)):
            raise ValueError(f"class_id out of range for {len(self.class_names)} class names")

    @classmethod
    def empty(cls, class_names: Sequence[str] = ()) -> "Detections":
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64), class_names)

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: Union[np.ndarray, slice, int, Sequence[int]]) -> "Detections":
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        return Detections(self.xyxy[index], self.confidence[index], self.class_id[index], self.class_names)

    @property
    def names(self) -> list[str]:
        """Class name of each box (``str(class_id)`` when the model has no names)."""
        n = len(self.class_names)
        return [self.class_names[c] if c < n else str(c) for c in self.class_id.tolist()]

    def to_records(self) -> list[dict[str, Any]]:
        """JSON-ready list: ``[{xyxy, score, class_id, class_name}]``."""
        return [
            {"xyxy": [round(v, 2) for v in box], "score": round(score, 4), "class_id": cid, "class_name": name}
            for box, score, cid, name in zip(self.xyxy.tolist(), self.confidence.tolist(), self.class_id.tolist(), self.names)
        ]


@dataclass
class Classifications:
    """The top classes of one frame, best first: class ids (N,) and probabilities (N,)."""

    class_id: np.ndarray  # (N,) int64
    score: np.ndarray  # (N,) float32 softmax probability
    class_names: Sequence[str] = ()

    def __post_init__(self) -> None:
        self.class_id = np.asarray(self.class_id, dtype=np.int64).reshape(-1)
        self.score = np.asarray(self.score, dtype=np.float32).reshape(-1)
        if len(self.class_id) != len(self.score):
            raise ValueError(f"Classifications arrays disagree: class_id {len(self.class_id)}, score {len(self.score)}")

    def __len__(self) -> int:
        return len(self.class_id)

    @property
    def names(self) -> list[str]:
        n = len(self.class_names)
        return [self.class_names[c] if c < n else str(c) for c in self.class_id.tolist()]

    def to_records(self) -> list[dict[str, Any]]:
        """JSON-ready list: ``[{class_id, class_name, score}]``, best first."""
        return [{"class_id": cid, "class_name": name, "score": round(score, 4)}
                for cid, name, score in zip(self.class_id.tolist(), self.names, self.score.tolist())]


@dataclass
class ExpertActivation:
    """The experts one MoE layer ran for one frame: ids (K',) and their renormalised weights (K',)."""

    layer: str
    ids: np.ndarray  # (K',) int64
    weights: np.ndarray  # (K',) float32

    def __post_init__(self) -> None:
        self.ids = np.asarray(self.ids, dtype=np.int64).reshape(-1)
        self.weights = np.asarray(self.weights, dtype=np.float32).reshape(-1)
        if len(self.ids) != len(self.weights):
            raise ValueError(f"layer {self.layer}: {len(self.ids)} expert ids but {len(self.weights)} weights")

    def to_record(self) -> dict[str, Any]:
        return {"layer": self.layer, "ids": self.ids.tolist(), "weights": [round(w, 4) for w in self.weights.tolist()]}


@dataclass
class Latency:
    """Milliseconds spent on one frame per stage.

    ``capture`` is the time the consumer waited for the frame (near zero when decode is prefetched
    or the camera is faster than the model); ``total`` is the sum of the four stages.
    """

    capture: float = 0.0
    preprocess: float = 0.0
    inference: float = 0.0
    postprocess: float = 0.0

    @property
    def total(self) -> float:
        return self.capture + self.preprocess + self.inference + self.postprocess

    def to_record(self) -> dict[str, float]:
        stages = {"capture": self.capture, "preprocess": self.preprocess, "inference": self.inference, "postprocess": self.postprocess}
        return {**{k: round(v, 3) for k, v in stages.items()}, "total": round(self.total, 3)}


@dataclass
class FrameResult:
    """Everything about one processed frame."""

    frame_index: int  # position in the source (gaps mean a live source dropped stale frames)
    timestamp: float  # time.time() when the frame was captured
    detections: Detections
    experts: list[ExpertActivation]
    latency: Latency
    image: np.ndarray = field(repr=False, default=None)  # (H, W, 3) BGR original frame
    fps: float = 0.0  # end-to-end FPS over the meter window when this frame finished
    classes: Optional[Classifications] = None  # classification bundles: the top classes (detections stay empty)
    source: Optional[str] = None  # the image file of this frame (image sources; None for video and streams)
    host_bytes: int = 0  # bytes the executor moved between host memory and the backend for this frame

    def to_record(self) -> dict[str, Any]:
        """The JSONL object: frame, [source,] timestamp, latency_ms, fps, detections (or classes), experts."""
        found = {"detections": self.detections.to_records()} if self.classes is None else {"classes": self.classes.to_records()}
        return {
            "frame": self.frame_index,
            **({"source": self.source} if self.source is not None else {}),
            "timestamp": round(self.timestamp, 6),
            "latency_ms": self.latency.to_record(),
            "fps": round(self.fps, 2),
            **found,
            "experts": [e.to_record() for e in self.experts],
        }
