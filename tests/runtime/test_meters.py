import numpy as np
import pytest

from edge_moe.runtime.meters import ExpertUsage, FpsMeter, LatencyStats, RingBuffer, RunStats, format_summary
from edge_moe.runtime.results import Detections, ExpertActivation, FrameResult, Latency


def test_fps_counts_intervals_not_stamps():
    meter = FpsMeter(window_s=10)
    for t in (0.0, 0.1, 0.2, 0.3, 0.4):  # 5 frames, 4 intervals of 100 ms
        meter.tick(t)
    assert meter.fps == pytest.approx(10.0)


def test_fps_window_forgets_old_frames():
    meter = FpsMeter(window_s=1.0)
    for i in range(10):  # 10 fps for 1 s
        meter.tick(i * 0.1)
    for i in range(1, 21):  # then 20 fps
        meter.tick(0.9 + i * 0.05)
    assert meter.fps == pytest.approx(20.0)
    assert FpsMeter().fps == 0.0


def test_ring_buffer_keeps_the_latest_values_in_fixed_memory():
    ring = RingBuffer(4)
    for v in range(10):
        ring.add(v)
    assert sorted(ring.view().tolist()) == [6, 7, 8, 9] and ring.values.nbytes == 32


def result(i, ids, weights, inference=10.0):
    return FrameResult(i, 0.0, Detections.empty(), [ExpertActivation("p3", ids, weights)], Latency(1.0, 2.0, inference, 1.0))


def test_latency_percentiles_and_expert_usage():
    stats = RunStats([("p3", 4)])
    for i in range(100):
        stats.add(result(i, [i % 2, 3], [0.75, 0.25], inference=float(i)))
    summary = stats.summary({"dropped": 2})
    assert summary["frames"] == 100
    assert summary["latency_ms"]["inference"]["p50"] == pytest.approx(49.5)
    assert summary["latency_ms"]["inference"]["p95"] == pytest.approx(94.05)
    assert summary["experts"]["p3"]["share"] == [0.5, 0.5, 0.0, 1.0]
    assert summary["experts"]["p3"]["mean_weight"] == [0.75, 0.75, 0.0, 0.25]
    assert summary["inference_fps"] == pytest.approx(100 / (sum(range(100)) / 1000), rel=1e-3)
    table = format_summary(summary)
    assert "p3" in table and "p95" in table and "dropped=2" in table


def test_usage_accepts_layers_the_manifest_did_not_list():
    usage = ExpertUsage([])
    usage.add(result(0, [5, 1], [0.5, 0.5]))
    assert usage.summary()["p3"]["share"] == [0.0, 1.0, 0.0, 0.0, 0.0, 1.0]


def test_latency_stats_keep_only_the_most_recent_frames():
    stats = LatencyStats(capacity=4)
    for inference in (100.0, 100.0, 1.0, 2.0, 3.0, 4.0):  # the two slow frames fall out of the window
        stats.add(FrameResult(0, 0.0, Detections.empty(), [], Latency(0.0, 1.0, inference, 1.0)))
    summary = stats.summary()
    assert summary["inference"]["mean"] == 2.5
    assert summary["inference"]["p50"] == float(np.percentile([1, 2, 3, 4], 50))
    assert summary["total"]["mean"] == 4.5
