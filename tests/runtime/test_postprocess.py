import numpy as np
import pytest

from edge_moe.runtime.postprocess import PostprocessConfig, batched_nms, nms, postprocess
from edge_moe.runtime.preprocess import Letterbox


def iou_matrix(a, b):
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=2)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])
    return inter / (area(a)[:, None] + area(b)[None] - inter)


def reference_nms(boxes, scores, iou):
    """Textbook greedy NMS, one box at a time."""
    overlaps = iou_matrix(boxes, boxes)
    keep = []
    for i in np.argsort(-scores, kind="stable"):
        if not (overlaps[i, keep] > iou).any():
            keep.append(i)
    return keep


def random_boxes(rng, n):
    xy = rng.uniform(0, 200, (n, 2))
    wh = rng.uniform(5, 60, (n, 2))
    return np.concatenate([xy, xy + wh], 1).astype(np.float32)


@pytest.mark.parametrize("seed", range(5))
def test_nms_matches_the_textbook_algorithm(seed):
    rng = np.random.default_rng(seed)
    boxes, scores = random_boxes(rng, 200), rng.uniform(0, 1, 200).astype(np.float32)
    assert nms(boxes, scores, 0.5).tolist() == reference_nms(boxes, scores, 0.5)


@pytest.mark.parametrize("n", [50, 1500])  # the IoU-matrix path and the per-class path
def test_class_aware_nms_equals_nms_per_class(n):
    rng = np.random.default_rng(n)
    boxes, scores, classes = random_boxes(rng, n), rng.uniform(0, 1, n).astype(np.float32), rng.integers(0, 3, n)
    expected = np.concatenate([np.flatnonzero(classes == c)[reference_nms(boxes[classes == c], scores[classes == c], 0.5)]
                               for c in range(3)])
    expected = expected[np.argsort(-scores[expected], kind="stable")]
    assert batched_nms(boxes, scores, classes, 0.5, max_det=10_000).tolist() == expected.tolist()


def test_greedy_loop_path_matches_the_matrix_path():
    rng = np.random.default_rng(7)
    boxes, scores = random_boxes(rng, 1100), rng.uniform(0, 1, 1100).astype(np.float32)
    loop = nms(boxes, scores, 0.5, max_det=10_000)  # 1100 > MATRIX_NMS_MAX: the loop
    matrix = nms(boxes[:1000], scores[:1000], 0.5, max_det=10_000)
    assert matrix.tolist() == reference_nms(boxes[:1000], scores[:1000], 0.5)
    assert loop.tolist() == reference_nms(boxes, scores, 0.5)


def test_nms_is_class_aware():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [1, 1, 10, 10]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    assert batched_nms(boxes, scores, np.array([0, 1, 0]), 0.5).tolist() == [0, 1]
    assert batched_nms(boxes, scores, np.array([0, 0, 0]), 0.5).tolist() == [0]


def test_class_offset_keeps_negative_boxes_apart():
    # With an offset of |boxes|.max() + 1 = 101, class 1's [-11, -11, -1, -1] landed exactly on class 0's box.
    boxes = np.array([[90, 90, 100, 100], [-11, -11, -1, -1]], np.float32)
    scores = np.array([0.6, 0.9], np.float32)
    assert batched_nms(boxes, scores, np.array([0, 1]), 0.5).tolist() == [1, 0]


def test_postprocess_filters_suppresses_and_maps_to_the_frame():
    rng = np.random.default_rng(0)
    a, nc = 500, 4
    boxes = random_boxes(rng, a)[None]  # (1, A, 4)
    scores = rng.uniform(0, 0.2, (1, a, nc)).astype(np.float32)
    scores[0, 10, 2] = 0.95
    scores[0, 11, 2] = 0.90  # same box as 10, same class: suppressed
    scores[0, 12, 3] = 0.85  # same box, another class: kept
    boxes[0, 11] = boxes[0, 12] = boxes[0, 10]
    box = Letterbox(scale=2.0, pad_x=8, pad_y=0, frame_height=1000, frame_width=1000)
    dets = postprocess(boxes, scores, box, PostprocessConfig(conf=0.5, iou=0.5), ["a", "b", "c", "d"])
    assert dets.names == ["c", "d"] and dets.confidence.tolist() == pytest.approx([0.95, 0.85])
    np.testing.assert_allclose(dets.xyxy[0], ((boxes[0, 10] - [8, 0, 8, 0]) / 2.0).clip(0, 1000), atol=1e-4)


def test_postprocess_limits_and_empty_frames():
    rng = np.random.default_rng(1)
    boxes, scores = random_boxes(rng, 1000)[None], rng.uniform(0.6, 1, (1, 1000, 3)).astype(np.float32)
    box = Letterbox(1.0, 0, 0, 300, 300)
    assert len(postprocess(boxes, scores, box, PostprocessConfig(conf=0.5, iou=0.99, max_det=7))) == 7
    assert len(postprocess(boxes, scores * 0, box, PostprocessConfig())) == 0
    with pytest.raises(ValueError, match="iou"):
        PostprocessConfig(iou=0)
