"""COCO box metrics with pycocotools (the reference implementation): mAP@0.5:0.95, mAP@0.5, AR@100.

Ground truth and predictions are plain numpy per image, in original-image pixels (xyxy), so the
same function scores a trainer's EMA model, a checkpoint or an exported bundle.
"""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np


@dataclass
class ImageTruth:
    width: int
    height: int
    classes: np.ndarray  # (N,) int
    boxes: np.ndarray  # (N, 4) xyxy pixels


@dataclass
class ImagePrediction:
    boxes: np.ndarray  # (D, 4) xyxy pixels
    scores: np.ndarray  # (D,)
    classes: np.ndarray  # (D,) int


METRIC_KEYS = ("map50_95", "map50", "map75", "map_small", "map_medium", "map_large", "ar1", "ar10", "ar100")


def _to_coco(truths: Sequence[ImageTruth], num_classes: int):
    from pycocotools.coco import COCO

    images, annotations = [], []
    for i, truth in enumerate(truths):
        images.append({"id": i + 1, "width": int(truth.width), "height": int(truth.height)})
        for cls, (x1, y1, x2, y2) in zip(truth.classes.tolist(), truth.boxes.tolist()):
            w, h = x2 - x1, y2 - y1
            annotations.append(
                {"id": len(annotations) + 1, "image_id": i + 1, "category_id": int(cls) + 1, "bbox": [x1, y1, w, h], "area": w * h, "iscrowd": 0}
            )
    coco = COCO()
    coco.dataset = {"images": images, "annotations": annotations, "categories": [{"id": c + 1, "name": str(c)} for c in range(num_classes)]}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def _detections(predictions: Sequence[ImagePrediction]) -> np.ndarray:
    rows = []
    for i, pred in enumerate(predictions):
        if len(pred.scores) == 0:
            continue
        xywh = np.concatenate([pred.boxes[:, :2], pred.boxes[:, 2:] - pred.boxes[:, :2]], axis=1)
        image_id = np.full((len(pred.scores), 1), i + 1, np.float64)
        rows.append(np.concatenate([image_id, xywh, pred.scores[:, None], pred.classes[:, None] + 1.0], axis=1))
    return np.concatenate(rows) if rows else np.zeros((0, 7))


def coco_metrics(
    truths: Sequence[ImageTruth],
    predictions: Sequence[ImagePrediction],
    num_classes: int,
    subsets: Optional[dict[str, Sequence[int]]] = None,
) -> dict[str, dict[str, float]]:
    """Scores predictions; returns ``{"all": metrics, subset name: metrics, ...}``.

    ``subsets`` maps a name (a scene regime) to image indices. A metric pycocotools cannot define
    (no ground truth of that kind) is reported as 0.0.
    """
    from pycocotools.cocoeval import COCOeval

    if len(truths) != len(predictions):
        raise ValueError(f"{len(truths)} ground-truth images but {len(predictions)} predictions")
    gt = _to_coco(truths, num_classes)
    dets = _detections(predictions)
    groups = {"all": list(range(len(truths)))}
    groups.update({name: list(idx) for name, idx in (subsets or {}).items()})
    if len(dets) == 0:
        return {name: {key: 0.0 for key in METRIC_KEYS} for name in groups}
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(dets)
    # One evaluate() over every image; a subset re-runs only accumulate() with the per-image results
    # of other images blanked (accumulate skips None entries; evalImgs is laid out [cat][area][image]).
    evaluator = COCOeval(gt, dt, "bbox")
    evaluator.params.imgIds = [i + 1 for i in groups["all"]]
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator.evaluate()
    per_image = evaluator.evalImgs
    num_images = len(evaluator.params.imgIds)
    results = {}
    for name, indices in groups.items():
        chosen = set(indices)
        evaluator.evalImgs = [e if n % num_images in chosen else None for n, e in enumerate(per_image)]
        with contextlib.redirect_stdout(io.StringIO()):
            evaluator.accumulate()
            evaluator.summarize()
        stats = [max(float(v), 0.0) for v in evaluator.stats]
        results[name] = dict(zip(METRIC_KEYS, stats[:9]))
    return results
