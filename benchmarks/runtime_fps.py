"""Runtime figures on a video file with ONNX Runtime CPU (printed, not asserted in tests).

1. end-to-end FPS of ``Detector.stream(video)`` vs inference-only FPS of the same detector on the
   same frames, measured side by side in alternating rounds (target: end-to-end >= 0.9x);
2. decode + NMS time for 8400 candidates x 80 classes (target: <= 2 ms);
3. resident memory over 10,000 frames of a video (target: flat within 5% after warm-up).

    python benchmarks/runtime_fps.py                       # exports esmoe-pico (sparse, 256) first
    python benchmarks/runtime_fps.py --model BUNDLE --frames 10000
"""
from __future__ import annotations

import argparse
import os
import subprocess
import time
from pathlib import Path
from typing import Optional

import numpy as np

from edge_moe.runtime import Detector
from edge_moe.runtime.postprocess import PostprocessConfig, postprocess
from edge_moe.runtime.preprocess import Letterbox
from edge_moe.runtime.sources import Frame


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def make_video(path: Path, frames: int, size: str = "640x480", fps: int = 30) -> Path:
    if not path.exists():
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}",
                        "-frames:v", str(frames), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def bench_bundle(model: Optional[str], work: Path) -> Path:
    """``model``, or (None) an esmoe-pico sparse bundle at 256 exported once under ``work``."""
    if model:
        return Path(model)
    path = work / "esmoe-pico-sparse"
    if not path.exists():
        from edge_moe.exporters.export import export_bundle

        export_bundle("esmoe-pico", path, routing="sparse")
    return path


def fps_side_by_side(det: Detector, video: Path, rounds: int) -> tuple[float, float, float]:
    """(end-to-end FPS, inference-only FPS of a bare loop, inference-only FPS inside the stream),
    each the median over alternating rounds."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    tensors = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        tensors.append(det.prepare(Frame(frame, 0, 0.0)).tensor)
    end_to_end, inference, in_stream = [], [], []
    for _ in range(rounds):
        start = time.perf_counter()
        stream = det.stream(str(video))
        n = sum(1 for _ in stream)
        end_to_end.append(n / (time.perf_counter() - start))
        in_stream.append(stream.summary()["inference_fps"])
        start = time.perf_counter()
        for x in tensors:
            det.executor(x, det.top_k)
        inference.append(len(tensors) / (time.perf_counter() - start))
    return float(np.median(end_to_end)), float(np.median(inference)), float(np.median(in_stream))


def nms_ms(repeats: int = 200) -> tuple[float, float]:
    """Median ms of postprocess on 8400 x 80 outputs: (typical scores, 300 objects' worth of candidates)."""
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 600, (1, 8400, 2)).astype(np.float32)
    boxes = np.concatenate([xy, xy + rng.uniform(4, 120, (1, 8400, 2)).astype(np.float32)], 2)  # (1, 8400, 4)
    logits = rng.normal(-8, 2, (1, 8400, 80)).astype(np.float32)
    typical = 1 / (1 + np.exp(-logits))  # mostly background, a few hundred candidates above 0.25
    crowded = typical.copy()
    crowded[0, rng.choice(8400, 3000, replace=False), rng.integers(0, 80, 3000)] = rng.uniform(0.3, 1, 3000)
    box = Letterbox(1.0, 0, 0, 640, 640)
    config = PostprocessConfig(conf=0.25, iou=0.45)
    out = []
    for scores in (typical, crowded):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            postprocess(boxes, scores, box, config)
            times.append((time.perf_counter() - start) * 1000)
        out.append(float(np.median(times)))
    return out[0], out[1]


def memory_over(det: Detector, video: Path, frames: int, warmup: int = 1000) -> tuple[float, float, int]:
    """(RSS after warm-up, max RSS after warm-up) in MiB over ``frames`` frames, and frames run."""
    samples = []
    count = 0
    for count, _ in enumerate(det.stream(str(video), max_frames=frames), 1):
        if count >= warmup and count % 250 == 0:
            samples.append(rss_mb())
    return samples[0], max(samples), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="bundle directory (default: export esmoe-pico sparse 256)")
    parser.add_argument("--frames", type=int, default=10_000, help="frames for the memory run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--work", default="runs/bench-runtime")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    model = bench_bundle(args.model, work)
    det = Detector(model)
    video = make_video(work / "bench_300.mp4", 300)
    print(f"bundle {model} ({det.bundle.routing}, input {det.spec.height}x{det.spec.width}), backend {det.backend}, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")

    e2e, inf, inf_in_stream = fps_side_by_side(det, video, args.rounds)
    print(f"end-to-end FPS {e2e:.1f}  inference-only FPS {inf:.1f} (bare loop), {inf_in_stream:.1f} (inside the stream)  "
          f"ratio {e2e / inf:.3f} / {e2e / inf_in_stream:.3f}  (target >= 0.9; 640x480 H.264, median of {args.rounds} alternating rounds)")

    typical, crowded = nms_ms()
    print(f"decode + NMS, 8400 x 80: {typical:.3f} ms typical scores, {crowded:.3f} ms with 3000 candidates (target <= 2 ms)")

    long_video = make_video(work / f"bench_{args.frames}.mp4", args.frames, size="320x240")
    start = time.perf_counter()
    first, peak, count = memory_over(det, long_video, args.frames)
    print(f"memory over {count} frames: RSS {first:.1f} MiB after warm-up, max {peak:.1f} MiB, growth {100 * (peak / first - 1):.2f}% "
          f"(target < 5%; {count / (time.perf_counter() - start):.1f} FPS)")


if __name__ == "__main__":
    main()
