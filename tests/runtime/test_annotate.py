"""The annotated frame keeps the source size (the expert strip is an overlay) and labels of overlapping boxes stay apart."""
import numpy as np
import pytest

from edge_moe.runtime.results import Detections, ExpertActivation, FrameResult, Latency
from edge_moe.runtime.sinks.annotate import FrameAnnotator, LabelAnnotator

LAYERS = [("backbone.moe.p3", 4), ("backbone.moe.p4", 4)]


def result(shape=(256, 256, 3), boxes=((40, 60, 140, 160),)):
    detections = Detections(np.array(boxes, np.float32), np.full(len(boxes), 0.9), np.zeros(len(boxes)), ["person"])
    experts = [ExpertActivation(name, [0, 2], [0.7, 0.3]) for name, _ in LAYERS]
    return FrameResult(0, 0.0, detections, experts, Latency(1, 1, 1, 1), np.full(shape, 90, np.uint8))


@pytest.mark.parametrize("shape", [(256, 256, 3), (240, 320, 3), (720, 1280, 3)])
def test_the_expert_strip_is_an_overlay(shape):
    frame = FrameAnnotator(LAYERS).annotate(result(shape))
    assert frame.shape == shape
    plain = FrameAnnotator(LAYERS, strip=False).annotate(result(shape))
    assert plain.shape == shape and not np.array_equal(frame[-20:], plain[-20:])  # the strip is drawn at the bottom


def overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_labels_of_overlapping_boxes_do_not_cover_each_other():
    boxes = [(40, 60, 140, 160), (42, 62, 150, 170), (45, 58, 130, 150), (38, 64, 120, 140)]
    tags = LabelAnnotator.layout((256, 256), result(boxes=boxes).detections, 0.4)
    rects = [rect for _, _, rect in tags]
    assert len(rects) == 4
    assert not any(overlaps(a, b) for i, a in enumerate(rects) for b in rects[i + 1:])
    assert all(0 <= x1 and 0 <= y1 and x2 <= 256 and y2 <= 256 for x1, y1, x2, y2 in rects)


def test_a_lone_label_sits_above_its_box():
    (_, _, (x1, y1, x2, y2)), = LabelAnnotator.layout((256, 256), result().detections, 0.4)
    assert x1 == 40 and y2 == 60


def test_labels_keep_clear_of_the_fps_tag_and_the_strip():
    from edge_moe.runtime.sinks.annotate import ExpertStripAnnotator, FpsAnnotator

    frame = result(boxes=[(2, 20, 60, 60), (150, 170, 230, 250)])
    reserved = [FpsAnnotator().area(frame.image, frame), ExpertStripAnnotator(LAYERS).area(frame.image)]
    assert reserved[1][1] < 256 - 20  # the strip covers the bottom rows
    tags = LabelAnnotator.layout((256, 256), frame.detections, 0.4, reserved)
    assert not any(overlaps(rect, area) for _, _, rect in tags for area in reserved)
