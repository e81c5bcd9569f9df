"""Graph outputs -> :class:`Detections`: confidence filter, class-aware NMS in numpy, boxes mapped back."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from edge_moe.runtime.preprocess import Letterbox
from edge_moe.runtime.results import Detections


@dataclass(frozen=True)
class PostprocessConfig:
    conf: float = 0.25  # minimum class score kept
    iou: float = 0.45  # NMS IoU threshold (boxes of the same class only)
    max_det: int = 300  # boxes kept per frame after NMS
    max_candidates: int = 3000  # highest-scoring boxes that enter NMS

    def __post_init__(self) -> None:
        if not 0.0 <= self.conf <= 1.0:
            raise ValueError(f"conf must be in [0, 1], got {self.conf}")
        if not 0.0 < self.iou <= 1.0:
            raise ValueError(f"iou must be in (0, 1], got {self.iou}")
        if self.max_det < 1 or self.max_candidates < 1:
            raise ValueError("max_det and max_candidates must be >= 1")


def box_iou_one_to_many(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one box (4,) against boxes (N, 4), xyxy."""
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float, max_det: int = 300) -> np.ndarray:
    """Greedy NMS; returns kept indices, highest score first. One vectorised IoU row per kept box."""
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size and len(keep) < max_det:
        best = order[0]
        keep.append(best)
        rest = order[1:]
        order = rest[box_iou_one_to_many(boxes[best], boxes[rest]) <= iou]
    return np.asarray(keep, dtype=np.int64)


def batched_nms(boxes: np.ndarray, scores: np.ndarray, class_id: np.ndarray, iou: float, max_det: int = 300) -> np.ndarray:
    """Class-aware NMS: boxes of different classes never suppress each other (offset trick)."""
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    offset = class_id.astype(np.float32)[:, None] * (float(np.abs(boxes).max()) + 1.0)
    return nms(boxes + offset, scores, iou, max_det)


def postprocess(boxes: np.ndarray, scores: np.ndarray, letterbox: Letterbox, config: PostprocessConfig,
                class_names: Sequence[str] = ()) -> Detections:
    """boxes (1, A, 4) xyxy input pixels, scores (1, A, nc) in [0, 1] -> Detections in frame pixels."""
    boxes, scores = boxes[0], scores[0]  # (A, 4), (A, nc)
    best = scores.max(axis=1)  # (A,)
    candidates = np.flatnonzero(best >= config.conf)
    if candidates.size > config.max_candidates:
        candidates = candidates[np.argpartition(-best[candidates], config.max_candidates)[: config.max_candidates]]
    if candidates.size == 0:
        return Detections.empty(class_names)
    cand_boxes = boxes[candidates]  # (N, 4)
    cand_scores = best[candidates]  # (N,)
    cand_class = scores[candidates].argmax(axis=1)  # (N,)
    keep = batched_nms(cand_boxes, cand_scores, cand_class, config.iou, config.max_det)
    return Detections(letterbox.to_frame(cand_boxes[keep]), cand_scores[keep], cand_class[keep], class_names)
