import numpy as np
import pytest

from edge_moe.metrics import ImagePrediction, ImageTruth, coco_metrics


def truth(*boxes, classes=None):
    boxes = np.array(boxes, np.float32).reshape(-1, 4)
    return ImageTruth(100, 100, np.array(classes if classes is not None else [0] * len(boxes)), boxes)


def pred(boxes, scores, classes=None):
    boxes = np.array(boxes, np.float32).reshape(-1, 4)
    return ImagePrediction(boxes, np.array(scores, np.float32), np.array(classes if classes is not None else [0] * len(boxes)))


def test_perfect_predictions_score_one():
    truths = [truth([10, 10, 50, 50]), truth([20, 20, 60, 80], [5, 5, 15, 15])]
    preds = [pred([[10, 10, 50, 50]], [0.9]), pred([[20, 20, 60, 80], [5, 5, 15, 15]], [0.8, 0.7])]
    m = coco_metrics(truths, preds, 1)["all"]
    assert m["map50_95"] == pytest.approx(1.0) and m["map50"] == pytest.approx(1.0) and m["ar100"] == pytest.approx(1.0)


def test_known_ap_with_a_false_positive_between_two_hits():
    # Ranked: hit (P=1, R=0.5), false positive (P=0.5), hit (P=2/3, R=1). COCO's 101-point
    # interpolation: precision 1 for recall <= 0.5 (51 points), 2/3 above (50 points).
    truths = [truth([10, 10, 50, 50]), truth([60, 60, 90, 90])]
    preds = [pred([[10, 10, 50, 50], [0, 60, 20, 95]], [0.9, 0.8]), pred([[60, 60, 90, 90]], [0.7])]
    expected = (51 * 1.0 + 50 * 2 / 3) / 101
    m = coco_metrics(truths, preds, 1)["all"]
    assert m["map50"] == pytest.approx(expected, abs=1e-6)
    assert m["map50_95"] == pytest.approx(expected, abs=1e-6)  # exact boxes: same at every IoU threshold
    assert m["ar100"] == pytest.approx(1.0)


def test_loose_box_counts_only_at_low_iou_thresholds():
    # IoU of [10,10,50,50] with [10,10,50,60] is 0.8: a hit for thresholds 0.50..0.80 (7 of 10).
    m = coco_metrics([truth([10, 10, 50, 50])], [pred([[10, 10, 50, 60]], [0.9])], 1)["all"]
    assert m["map50"] == pytest.approx(1.0)
    assert m["map50_95"] == pytest.approx(0.7)
    assert m["ar100"] == pytest.approx(0.7)


def test_wrong_class_and_subsets():
    truths = [truth([10, 10, 50, 50], classes=[1]), truth([10, 10, 50, 50], classes=[0])]
    preds = [pred([[10, 10, 50, 50]], [0.9], classes=[0]), pred([[10, 10, 50, 50]], [0.9], classes=[0])]
    result = coco_metrics(truths, preds, 2, subsets={"first": [0], "second": [1]})
    assert result["first"]["map50"] == 0.0 and result["second"]["map50"] == pytest.approx(1.0)
    # class 0: a hit and a false positive of equal score (AP 0.5); class 1: missed (AP 0)
    assert result["all"]["map50"] == pytest.approx(0.25)


def test_no_predictions_is_zero():
    m = coco_metrics([truth([10, 10, 50, 50])], [pred([], [])], 1)["all"]
    assert m["map50_95"] == 0.0 and m["ar100"] == 0.0


def test_subset_equals_scoring_the_subset_alone():
    truths = [truth([10, 10, 50, 50]), truth([60, 60, 90, 90], [5, 5, 20, 20]), truth([30, 30, 70, 70])]
    preds = [pred([[12, 10, 50, 52]], [0.9]), pred([[60, 60, 90, 90], [50, 50, 60, 60]], [0.6, 0.8]), pred([[0, 0, 10, 10]], [0.7])]
    split = coco_metrics(truths, preds, 1, subsets={"tail": [1, 2]})
    alone = coco_metrics(truths[1:], preds[1:], 1)["all"]
    assert split["tail"] == pytest.approx(alone)
    assert split["all"] != pytest.approx(alone)
