import shutil
import threading
import time

import numpy as np
import pytest

from edge_moe.errors import UserError
from edge_moe.runtime import Detector, PushSource


def check_routing(result, k=2):
    assert [e.layer for e in result.experts] == ["backbone.moe.p2", "backbone.moe.p3", "backbone.moe.p4", "backbone.moe.p5"]
    for e in result.experts:
        assert len(e.ids) == k and len(set(e.ids.tolist())) == k and ((0 <= e.ids) & (e.ids < 4)).all()
        assert e.weights.sum() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("shape", [(480, 640, 3), (333, 101, 3), (77, 77), (200, 300, 4)])
def test_one_frame_of_any_shape(detector, shape):
    frame = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    result = detector(frame)
    check_routing(result)
    h, w = shape[:2]
    dets = result.detections
    assert len(dets) > 0  # conf=0.01 on an untrained model: boxes everywhere
    assert (dets.xyxy[:, [0, 2]] <= w).all() and (dets.xyxy[:, [1, 3]] <= h).all() and (dets.xyxy >= 0).all()
    assert result.latency.inference > 0 and result.latency.total >= result.latency.inference


def test_lower_top_k_at_run_time(bundle):
    result = Detector(bundle, top_k=1)(np.zeros((64, 64, 3), np.uint8))
    check_routing(result, k=1)
    with pytest.raises(UserError, match="top_k must be an integer in \\[1, 2\\]"):
        Detector(bundle, top_k=3)


def test_stream_over_a_video_gives_every_frame_in_order(detector, media):
    stream = detector.stream(str(media["h264.mp4"]))
    indices = [r.frame_index for r in stream]
    assert indices == list(range(45))
    summary = stream.summary()
    assert summary["frames"] == 45 and summary["fps"] > 0 and summary["inference_fps"] > 0 and summary["error"] is None
    assert set(summary["experts"]) == {"backbone.moe.p2", "backbone.moe.p3", "backbone.moe.p4", "backbone.moe.p5"}
    assert all(sum(u["share"]) == pytest.approx(2.0) for u in summary["experts"].values())  # K=2 experts per frame


def test_truncated_video_counts_the_frames_it_processed(detector, media):
    stream = detector.stream(str(media["truncated.mp4"]))
    n = sum(1 for _ in stream)
    summary = stream.summary()
    assert 0 < n < 150 and summary["frames"] == n and "truncated or corrupt" in summary["error"]


def test_max_frames_and_images_directory(detector, media):
    results = list(detector.stream(str(media["images"]), max_frames=2))
    assert [r.image.shape for r in results] == [(120, 333, 3), (401, 99, 3)]


def test_push_feed_with_callback_and_stop_from_another_thread(detector):
    feed = PushSource("drone")
    seen = []
    handle = detector.start(feed, on_result=seen.append)
    frame = np.zeros((90, 160, 3), np.uint8)
    deadline = time.monotonic() + 10
    while len(seen) < 5 and time.monotonic() < deadline:
        feed.push(frame)
        time.sleep(0.01)
    threading.Timer(0.05, detector.stop).start()
    summary = handle.join(timeout=10)
    assert not handle.running and summary["frames"] == len(seen) >= 5
    assert [r.frame_index for r in seen] == sorted(r.frame_index for r in seen)


def test_invalid_bundles_fail_with_one_line(bundle, tmp_path):
    with pytest.raises(UserError, match="not a bundle directory"):
        Detector(tmp_path / "nope")
    broken = tmp_path / "broken"
    shutil.copytree(bundle, broken)
    graph = next((broken / "graphs").glob("segment0.onnx"))
    graph.write_bytes(graph.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(UserError, match="sha256 does not match"):
        Detector(broken)


def test_backend_names(bundle):
    with pytest.raises(UserError, match="unknown backend 'cuda'"):
        Detector(bundle, backend="cuda")
    with pytest.raises(UserError, match="providers .* are not available"):
        Detector(bundle, backend="onnxruntime", providers=["CUDAExecutionProvider"])
    assert Detector(bundle, backend="auto").backend == "onnxruntime"  # no engines in this bundle
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        with pytest.raises(UserError, match="no TensorRT engine|tensorrt"):
            Detector(bundle, backend="tensorrt")


def test_stop_a_file_stream_from_another_thread(detector, media):
    stream = detector.stream(str(media["long.mp4"]))
    count = 0
    for count, _ in enumerate(stream, 1):
        if count == 5:
            threading.Thread(target=detector.stop).start()
            time.sleep(0.2)
    assert 5 <= count < 150 and stream.summary()["frames"] == count
