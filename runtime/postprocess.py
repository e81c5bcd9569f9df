"""Graph outputs -> :class:`Detections`: confidence filter, class-aware NMS in numpy, boxes mapped back."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from edge_moe.runtime.preprocess import Letterbox
from edge_moe.runtime.results import Detections


@dataclass(frozen=True)
class PostprocessConfig:
    conf: float = 0.25  # minimum class score kept
    iou: float = 0.45  # NMS IoU threshold (boxes of the same class only)
    max_det: int = 300  # boxes kept per frame after NMS
    max_candidates: int = 3000  # highest-scoring boxes that enter NMS
    classes: Optional[tuple[int, ...]] = None  # keep only these class ids (None: all)

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


def box_iou_matrix(boxes: np.ndarray) -> np.ndarray:
    """Pairwise IoU (N, N) of boxes (N, 4) xyxy."""
    tl = np.maximum(boxes[:, None, :2], boxes[None, :, :2])  # (N, N, 2)
    br = np.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    wh = np.clip(br - tl, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(areas[:, None] + areas[None, :] - inter, 1e-9)


MATRIX_NMS_MAX = 1024  # up to this many candidates the whole IoU matrix is cheaper than a Python loop


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float, max_det: int = 300) -> np.ndarray:
    """Exact greedy NMS; returns kept indices, highest score first.

    Up to MATRIX_NMS_MAX boxes: one IoU matrix and a fixed-point iteration (Cluster-NMS, Zheng et
    al. 2021), which gives the greedy result once it stops changing, usually in 2-4 matrix-vector
    products. Beyond: the greedy loop with one vectorised IoU row per kept box.
    """
    order = np.argsort(-scores, kind="stable")
    if len(order) <= MATRIX_NMS_MAX:
        overlaps = np.triu(box_iou_matrix(boxes[order]) > iou, k=1).astype(np.float32)  # [j, i]: j scores higher
        keep = np.ones(len(order), np.float32)
        for _ in range(len(order)):
            new = (keep @ overlaps == 0).astype(np.float32)  # i survives if no kept box above it overlaps it
            if np.array_equal(new, keep):
                break
            keep = new
        return order[keep.astype(bool)][:max_det].astype(np.int64)
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
    if len(boxes) <= MATRIX_NMS_MAX:  # one matrix for all classes, kept apart by an offset per class
        # Shifting class c by c * (coordinate range + 1) puts every class in its own disjoint span,
        # whatever the sign of the coordinates (|boxes|.max() would let negative boxes collide).
        span = float(boxes.max()) - float(boxes.min()) + 1.0
        offset = class_id.astype(np.float32)[:, None] * np.float32(span)
        return nms(boxes + offset, scores, iou, max_det)
    order = np.argsort(class_id, kind="stable")  # many candidates: one small NMS per class
    starts = np.flatnonzero(np.diff(class_id[order], prepend=-1))
    kept = [group[nms(boxes[group], scores[group], iou, max_det)] for group in np.split(order, starts[1:])]
    kept = np.concatenate(kept)
    return kept[np.argsort(-scores[kept], kind="stable")][:max_det]


def select(boxes: np.ndarray, scores: np.ndarray, conf: float, iou: float, max_det: int = 300,
           max_candidates: int = 3000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image: boxes (A, 4), scores (A, nc) -> kept boxes (D, 4), scores (D,), class ids (D,), best first.

    Confidence filter (best class score >= ``conf``), the ``max_candidates`` best, class-aware NMS.
    Boxes stay in the coordinates they came in (input pixels); validation calls this too.
    """
    candidates = np.flatnonzero((scores >= conf).any(axis=1))  # cheaper than a full max over classes
    if candidates.size == 0:
        return np.zeros((0, 4), boxes.dtype), np.zeros(0, scores.dtype), np.zeros(0, np.int64)
    cand_scores_all = scores[candidates]  # (N, nc)
    cand_class = cand_scores_all.argmax(axis=1)  # (N,)
    cand_scores = cand_scores_all[np.arange(len(candidates)), cand_class]  # (N,)
    if candidates.size > max_candidates:
        top = np.argpartition(-cand_scores, max_candidates)[:max_candidates]
        candidates, cand_class, cand_scores = candidates[top], cand_class[top], cand_scores[top]
    cand_boxes = boxes[candidates]  # (N, 4)
    keep = batched_nms(cand_boxes, cand_scores, cand_class, iou, max_det)
    return cand_boxes[keep], cand_scores[keep], cand_class[keep].astype(np.int64)


def postprocess(boxes: np.ndarray, scores: np.ndarray, letterbox: Letterbox, config: PostprocessConfig,
                class_names: Sequence[str] = ()) -> Detections:
    """boxes (1, A, 4) xyxy input pixels, scores (1, A, nc) in [0, 1] -> Detections in frame pixels."""
    scores = scores[0]  # (A, nc)
    if config.classes is not None:  # other classes never enter NMS, so max_det counts only the wanted ones
        wanted = np.zeros(scores.shape[1], bool)
        wanted[[c for c in config.classes if c < len(wanted)]] = True
        scores = np.where(wanted, scores, 0)
    kept_boxes, kept_scores, kept_class = select(boxes[0], scores, config.conf, config.iou, config.max_det, config.max_candidates)
    if len(kept_scores) == 0:
        return Detections.empty(class_names)
    return Detections(letterbox.to_frame(kept_boxes), kept_scores, kept_class, class_names)
