import numpy as np
import pytest

from edge_moe.runtime.results import Detections, ExpertActivation, FrameResult, Latency


def make(n=3):
    xyxy = np.array([[0, 0, 10, 10], [5, 5, 20, 20], [1, 2, 3, 4]], np.float32)[:n]
    return Detections(xyxy, np.array([0.9, 0.5, 0.3])[:n], np.array([0, 2, 1])[:n], ["car", "person", "dog"])


def test_mask_and_index_give_filtered_copies():
    dets = make()
    high = dets[dets.confidence > 0.4]
    assert len(high) == 2 and high.names == ["car", "dog"]
    assert dets[1].class_id.tolist() == [2] and dets[[2, 0]].confidence.tolist() == pytest.approx([0.3, 0.9])
    assert len(dets[dets.class_id == 5]) == 0


def test_validation_rejects_mismatched_arrays_and_bad_class_ids():
    with pytest.raises(ValueError, match="disagree"):
        Detections(np.zeros((2, 4)), np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="class_id out of range"):
        Detections(np.zeros((1, 4)), np.ones(1), np.array([3]), ["a", "b"])
    with pytest.raises(ValueError, match="weights"):
        ExpertActivation("p3", [0, 1], [1.0])


def test_frame_record_has_the_jsonl_keys():
    result = FrameResult(7, 12.5, make(1), [ExpertActivation("p3", [2, 0], [0.7, 0.3])], Latency(1, 2, 3, 4), fps=9.5)
    record = result.to_record()
    assert list(record) == ["frame", "timestamp", "latency_ms", "fps", "detections", "experts"]
    assert record["latency_ms"] == {"capture": 1, "preprocess": 2, "inference": 3, "postprocess": 4, "total": 10}
    assert record["detections"] == [{"xyxy": [0, 0, 10, 10], "score": 0.9, "class_id": 0, "class_name": "car"}]
    assert record["experts"] == [{"layer": "p3", "ids": [2, 0], "weights": [0.7, 0.3]}]
