"""Stateless annotators (style set in ``__init__``, ``annotate(image, ...)`` draws on a copy)."""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from edge_moe.runtime.results import Classifications, Detections, ExpertActivation, FrameResult

# BGR, distinct and readable on both dark and light scenes
PALETTE = [(56, 56, 255), (151, 157, 255), (31, 112, 255), (29, 178, 255), (49, 210, 207), (10, 249, 72), (23, 204, 146),
           (134, 219, 61), (52, 147, 26), (187, 212, 0), (168, 153, 44), (255, 194, 0), (147, 69, 52), (255, 115, 100),
           (236, 24, 0), (255, 56, 132), (133, 0, 82), (255, 56, 203), (200, 149, 255), (199, 55, 255)]
FONT = cv2.FONT_HERSHEY_SIMPLEX
Rect = tuple[int, int, int, int]  # x1 y1 x2 y2


def color_of(class_id: int) -> tuple[int, int, int]:
    return PALETTE[int(class_id) % len(PALETTE)]


def short_name(layer: str, layers: Sequence[str]) -> str:
    """``backbone.moe.p3`` -> ``p3`` when the last part is unique among the layers."""
    last = layer.rsplit(".", 1)[-1]
    return last if sum(name.rsplit(".", 1)[-1] == last for name in layers) == 1 else layer


def _text_scale(image: np.ndarray) -> float:
    return max(0.35, min(image.shape[:2]) / 900)


class BoxAnnotator:
    def __init__(self, thickness: int = 2):
        self.thickness = thickness

    def annotate(self, image: np.ndarray, detections: Detections) -> np.ndarray:
        for box, cid in zip(detections.xyxy.round().astype(int).tolist(), detections.class_id.tolist()):
            cv2.rectangle(image, tuple(box[:2]), tuple(box[2:]), color_of(cid), self.thickness, cv2.LINE_AA)
        return image


class LabelAnnotator:
    """``name 0.87`` on a filled tag above each box (inside it when the box touches the top). A tag that would
    cover one already drawn, or a ``reserved`` area (the FPS tag, the expert strip), moves below the box, then
    down step by step, so overlapping boxes keep readable labels."""

    def annotate(self, image: np.ndarray, detections: Detections, reserved: Sequence[Rect] = ()) -> np.ndarray:
        scale = _text_scale(image)
        for text, cid, (x, y, x2, y2) in self.layout(image.shape[:2], detections, scale, reserved):
            cv2.rectangle(image, (x, y), (x2, y2), color_of(cid), -1)
            cv2.putText(image, text, (x + 2, y2 - cv2.getTextSize(text, FONT, scale, 1)[1] - 1), FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)
        return image

    @staticmethod
    def layout(shape: tuple[int, int], detections: Detections, scale: float, reserved: Sequence[Rect] = ()) -> list[tuple[str, int, Rect]]:
        """(text, class id, tag rectangle x1 y1 x2 y2) per box, in drawing order, tags kept apart."""
        height, width = shape
        placed: list[Rect] = list(reserved)
        tags = []
        for box, cid, name, score in zip(detections.xyxy.astype(int).tolist(), detections.class_id.tolist(), detections.names,
                                         detections.confidence.tolist()):
            text = f"{name} {score:.2f}"
            (tw, th), base = cv2.getTextSize(text, FONT, scale, 1)
            w, h = tw + 4, th + base + 2
            x = int(np.clip(box[0], 0, max(width - w, 0)))
            y = _free_row(placed, x, w, h, [box[1] - h, box[1], box[3]], height)
            placed.append((x, y, x + w, y + h))
            tags.append((text, cid, (x, y, x + w, y + h)))
        return tags


def _free_row(placed: list[Rect], x: int, w: int, h: int, candidates: list[int], height: int) -> int:
    """The first candidate top, else the nearest one above or below the first (half a tag apart), where a w x h tag
    at x overlaps no placed tag and stays in the frame."""
    def fits(y: int) -> bool:
        return 0 <= y and y + h <= height and not any(x < x2 and x1 < x + w and y < y2 and y1 < y + h for x1, y1, x2, y2 in placed)

    step = max(h // 2, 1)
    nearby = [candidates[0] + sign * k * step for k in range(1, height // step + 1) for sign in (-1, 1)]
    return next((y for y in candidates + nearby if fits(y)), int(np.clip(candidates[0], 0, max(height - h, 0))))


class ClassLabelAnnotator:
    """The top-1 class and its probability on a filled tag at the bottom-left of a classified frame."""

    def annotate(self, image: np.ndarray, classes: Classifications) -> np.ndarray:
        if not len(classes):
            return image
        scale = _text_scale(image) * 1.3
        text = f"{classes.names[0]} {float(classes.score[0]):.2f}"
        (tw, th), base = cv2.getTextSize(text, FONT, scale, 2)
        y = image.shape[0] - th - base - 8
        cv2.rectangle(image, (0, y), (tw + 8, image.shape[0]), color_of(int(classes.class_id[0])), -1)
        cv2.putText(image, text, (4, y + th + 4), FONT, scale, (255, 255, 255), 2, cv2.LINE_AA)
        return image


class FpsAnnotator:
    """End-to-end FPS and inference time in the top-left corner."""

    def annotate(self, image: np.ndarray, result: FrameResult) -> np.ndarray:
        text, scale, rect = self._tag(image, result)
        cv2.rectangle(image, rect[:2], rect[2:], (0, 0, 0), -1)
        cv2.putText(image, text, (4, rect[3] - cv2.getTextSize(text, FONT, scale, 1)[1] - 4), FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)
        return image

    def area(self, image: np.ndarray, result: FrameResult) -> Rect:
        return self._tag(image, result)[2]

    @staticmethod
    def _tag(image: np.ndarray, result: FrameResult) -> tuple[str, float, Rect]:
        scale = _text_scale(image) * 1.1
        text = f"{result.fps:5.1f} FPS  inf {result.latency.inference:.1f} ms  #{result.frame_index}"
        (tw, th), base = cv2.getTextSize(text, FONT, scale, 1)
        return text, scale, (0, 0, tw + 8, th + base + 8)


class ExpertStripAnnotator:
    """A translucent panel over the bottom of the frame (the frame keeps the camera's size): one row per MoE
    layer, one cell per expert; the experts that ran are lit in proportion to their routing weight and show it."""

    def __init__(self, layers: Sequence[tuple[str, int]], row_height: int = 0):
        self.layers = list(layers)
        self.row_height = row_height

    def _row(self, width: int) -> tuple[float, int]:
        scale = max(0.35, width / 1400)
        return scale, self.row_height or max(14, int(20 * scale / 0.45))

    def area(self, image: np.ndarray) -> Rect:
        """The part of the frame the strip covers (nothing without MoE layers)."""
        h, w = image.shape[:2]
        panel_h = min(self._row(w)[1] * len(self.layers) + 4, h) if self.layers else 0
        return (0, h - panel_h, w, h)

    def annotate(self, image: np.ndarray, experts: Sequence[ExpertActivation]) -> np.ndarray:
        if not self.layers:
            return image
        h, w = image.shape[:2]
        scale, row = self._row(w)
        panel_h = h - self.area(image)[1]
        panel = np.full((row * len(self.layers) + 4, w, 3), 24, np.uint8)
        by_layer = {e.layer: e for e in experts}
        label_w = int(w * 0.12)
        for r, (name, count) in enumerate(self.layers):
            y0 = 2 + r * row
            label = short_name(name, [n for n, _ in self.layers])
            cv2.putText(panel, label, (4, y0 + int(row * 0.7)), FONT, scale, (220, 220, 220), 1, cv2.LINE_AA)
            cell_w = max(1, (w - label_w - 4) // max(count, 1))
            chosen = by_layer.get(name)
            weights = dict(zip(chosen.ids.tolist(), chosen.weights.tolist())) if chosen else {}
            for e in range(count):
                x0 = label_w + e * cell_w
                weight = weights.get(e)
                if weight is None:
                    color, text_color = (60, 60, 60), (150, 150, 150)
                else:
                    level = 0.35 + 0.65 * float(np.clip(weight, 0, 1))
                    color, text_color = (int(40 * level), int(200 * level), int(255 * level)), (0, 0, 0)
                cv2.rectangle(panel, (x0 + 1, y0 + 1), (x0 + cell_w - 2, y0 + row - 2), color, -1)
                text = f"e{e}" if weight is None else f"e{e} {weight:.2f}"
                cv2.putText(panel, text, (x0 + 4, y0 + int(row * 0.7)), FONT, scale * 0.9, text_color, 1, cv2.LINE_AA)
        bottom = image[h - panel_h:]
        cv2.addWeighted(panel[:panel_h], 0.75, bottom, 0.25, 0, dst=bottom)
        return image


class FrameAnnotator:
    """Boxes and labels (or a classifier's top-1 class), FPS and (``strip=True``) the expert strip: the annotated frame
    for one result, the size of the source."""

    def __init__(self, layers: Sequence[tuple[str, int]] = (), strip: bool = True):
        self.boxes = BoxAnnotator()
        self.labels = LabelAnnotator()
        self.top1 = ClassLabelAnnotator()
        self.fps = FpsAnnotator()
        self.strip = ExpertStripAnnotator(layers if strip else ())

    def annotate(self, result: FrameResult) -> np.ndarray:
        image = result.image.copy()
        self.boxes.annotate(image, result.detections)
        self.labels.annotate(image, result.detections, reserved=[self.fps.area(image, result), self.strip.area(image)])
        if result.classes is not None:
            self.top1.annotate(image, result.classes)
        self.fps.annotate(image, result)
        return self.strip.annotate(image, result.experts)
