"""Running figures with constant memory: FPS over a time window, latency percentiles, expert usage."""
from __future__ import annotations

import time
from collections import deque
from typing import Optional, Sequence

import numpy as np

from edge_moe.runtime.results import FrameResult

STAGES = ("capture", "preprocess", "inference", "postprocess", "total")


class FpsMeter:
    """Frames per second over the last ``window_s`` seconds of ``time.monotonic()`` stamps.

    n stamps span n - 1 intervals, so fps = (n - 1) / (t_last - t_first).
    """

    def __init__(self, window_s: float = 2.0, max_stamps: int = 4096):
        self.window_s = window_s
        self.stamps: deque[float] = deque(maxlen=max_stamps)

    def tick(self, now: Optional[float] = None) -> float:
        now = time.monotonic() if now is None else now
        self.stamps.append(now)
        while len(self.stamps) > 2 and now - self.stamps[0] > self.window_s:
            self.stamps.popleft()
        return self.fps

    @property
    def fps(self) -> float:
        if len(self.stamps) < 2:
            return 0.0
        span = self.stamps[-1] - self.stamps[0]
        return (len(self.stamps) - 1) / span if span > 0 else 0.0


class RingBuffer:
    """The last ``capacity`` values in a preallocated float64 array (memory fixed from the start)."""

    def __init__(self, capacity: int = 8192):
        self.values = np.zeros(capacity, np.float64)
        self.count = 0

    def add(self, value: float) -> None:
        self.values[self.count % len(self.values)] = value
        self.count += 1

    def view(self) -> np.ndarray:
        return self.values[: min(self.count, len(self.values))]


class LatencyStats:
    """Per-stage latency (ms) of the most recent frames: mean, p50, p95."""

    def __init__(self, capacity: int = 8192):
        self.buffers = {stage: RingBuffer(capacity) for stage in STAGES}

    def add(self, result: FrameResult) -> None:
        for stage, value in result.latency.to_record().items():
            self.buffers[stage].add(value)

    def summary(self) -> dict[str, dict[str, float]]:
        out = {}
        for stage, buffer in self.buffers.items():
            v = buffer.view()
            if v.size:
                out[stage] = {"mean": float(v.mean()), "p50": float(np.percentile(v, 50)), "p95": float(np.percentile(v, 95))}
            else:
                out[stage] = {"mean": 0.0, "p50": 0.0, "p95": 0.0}
        return out


class ExpertUsage:
    """How often each expert of each MoE layer ran, and its mean routing weight when it did."""

    def __init__(self, layers: Sequence[tuple[str, int]]):
        self.layers = [name for name, _ in layers]
        self.counts = {name: np.zeros(experts, np.int64) for name, experts in layers}
        self.weight_sums = {name: np.zeros(experts, np.float64) for name, experts in layers}
        self.frames = 0

    def add(self, result: FrameResult) -> None:
        self.frames += 1
        for activation in result.experts:
            if activation.layer not in self.counts:  # a layer the manifest did not announce
                size = int(activation.ids.max()) + 1 if activation.ids.size else 1
                self.layers.append(activation.layer)
                self.counts[activation.layer] = np.zeros(size, np.int64)
                self.weight_sums[activation.layer] = np.zeros(size, np.float64)
            np.add.at(self.counts[activation.layer], activation.ids, 1)
            np.add.at(self.weight_sums[activation.layer], activation.ids, activation.weights)

    def summary(self) -> dict[str, dict[str, list[float]]]:
        """layer -> {share: fraction of frames each expert ran, mean_weight: its mean weight when chosen}."""
        out = {}
        for name in self.layers:
            counts = self.counts[name]
            share = counts / max(self.frames, 1)
            mean_weight = np.divide(self.weight_sums[name], counts, out=np.zeros_like(self.weight_sums[name]), where=counts > 0)
            out[name] = {"share": [round(float(s), 4) for s in share], "mean_weight": [round(float(w), 4) for w in mean_weight]}
        return out


class RunStats:
    """Everything the summary table shows, updated once per frame."""

    def __init__(self, layers: Sequence[tuple[str, int]] = (), fps_window_s: float = 2.0):
        self.fps = FpsMeter(fps_window_s)
        self.latency = LatencyStats()
        self.usage = ExpertUsage(layers)
        self.frames = 0
        self.inference_s = 0.0
        self.host_bytes = 0
        self.started: Optional[float] = None
        self.finished: Optional[float] = None

    def add(self, result: FrameResult) -> float:
        """Records a finished frame; returns the current end-to-end FPS (windowed)."""
        now = time.monotonic()
        if self.started is None:
            self.started = now
        self.finished = now
        self.frames += 1
        self.inference_s += result.latency.inference / 1000.0
        self.host_bytes += result.host_bytes
        self.latency.add(result)
        self.usage.add(result)
        result.fps = self.fps.tick(now)
        return result.fps

    def summary(self, source_stats: Optional[dict] = None) -> dict:
        """A JSON-ready summary: frames, FPS (end-to-end over the whole run and inference-only), latency, usage."""
        span = (self.finished - self.started) if self.frames > 1 else 0.0
        return {
            "frames": self.frames,
            "fps": round((self.frames - 1) / span, 2) if span > 0 else 0.0,
            "inference_fps": round(self.frames / self.inference_s, 2) if self.inference_s > 0 else 0.0,
            "host_bytes_per_frame": round(self.host_bytes / self.frames) if self.frames else 0,
            "latency_ms": {k: {m: round(v, 3) for m, v in s.items()} for k, s in self.latency.summary().items()},
            "experts": self.usage.summary(),
            "source": dict(source_stats or {}),
        }


def format_summary(summary: dict) -> str:
    """The table printed at the end of a run."""
    lines = [f"frames {summary['frames']}   end-to-end FPS {summary['fps']:.1f}   inference-only FPS {summary['inference_fps']:.1f}"]
    source = summary.get("source") or {}
    if source:
        lines.append("source " + "  ".join(f"{k}={v}" for k, v in source.items()))
    if summary.get("host_bytes_per_frame"):
        lines.append(f"host <-> backend {summary['host_bytes_per_frame']:,} bytes per frame (frame in, routing and outputs out)")
    lines.append(f"{'latency ms':<12} {'mean':>8} {'p50':>8} {'p95':>8}")
    for stage, s in summary["latency_ms"].items():
        lines.append(f"{stage:<12} {s['mean']:>8.2f} {s['p50']:>8.2f} {s['p95']:>8.2f}")
    if summary["experts"]:
        lines.append("expert usage (share of frames each expert ran; mean weight when chosen)")
        for layer, u in summary["experts"].items():
            cells = "  ".join(f"e{i}:{s:5.1%}/{w:.2f}" for i, (s, w) in enumerate(zip(u["share"], u["mean_weight"])))
            lines.append(f"  {layer:<18} {cells}")
    return "\n".join(lines)
