"""Several 640x480 videos on one model with ONNX Runtime CPU: total FPS and per-source FPS and latency for 1, 2, 4
sources (one thread per source, calls serialised on the one model; the frames waiting share a call, up to the
bundle's batch: one frame per call at batch 1).

    python benchmarks/multi_source.py                        # exports esmoe-pico (sparse, 256) first
    python benchmarks/multi_source.py --model BUNDLE --frames 300 --sources 1 2 4
    edge-moe export --model esmoe-pico --imgsz 256 --batch 4 --out runs/pico-b4 && python benchmarks/multi_source.py --model runs/pico-b4

Prints a markdown table. Per-source latency is the frame's split (capture wait + preprocess + inference +
postprocess); the time a frame waits for another source's call shows in the per-source FPS, not in it.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from edge_moe.runtime import Detector
from runtime_fps import bench_bundle, make_video

PATTERNS = ("testsrc2", "testsrc", "smptebars", "rgbtestsrc")  # one distinct 640x480 video per source


def make_videos(work: Path, count: int, frames: int) -> list[Path]:
    import subprocess

    paths = []
    for i in range(count):
        path = work / f"source{i}_{frames}.mp4"
        if i == 0:
            path = make_video(path, frames)
        elif not path.exists():
            subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                            f"{PATTERNS[i % len(PATTERNS)]}=size=640x480:rate=30", "-frames:v", str(frames), "-c:v", "libx264",
                            "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)], check=True)
        paths.append(path)
    return paths


def run(det: Detector, videos: list[Path]) -> dict:
    multi = det.stream([str(v) for v in videos])
    for _ in multi:
        pass
    return multi.summary()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="bundle directory (default: export esmoe-pico sparse 256)")
    parser.add_argument("--frames", type=int, default=300, help="frames per source video")
    parser.add_argument("--sources", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0: its default)")
    parser.add_argument("--work", default="runs/bench-multi-source")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    model = bench_bundle(args.model, work)
    det = Detector(model, threads=args.threads)
    videos = make_videos(work, max(args.sources), args.frames)
    print(f"bundle {model} ({det.bundle.routing}, input {det.spec.height}x{det.spec.width}), backend {det.backend}, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; {args.frames} frames of 640x480 H.264 per source")
    print("| sources | total FPS | per-source FPS (mean) | per-source latency mean / p95 ms | inference p50 ms |")
    print("|---:|---:|---:|---:|---:|")
    for count in args.sources:
        summary = run(det, videos[:count])
        per = list(summary["sources"].values())
        total = summary["total"]
        print(f"| {count} | {total['fps']:.1f} | {np.mean([s['fps'] for s in per]):.1f} | "
              f"{np.mean([s['latency_ms']['total']['mean'] for s in per]):.2f} / "
              f"{np.mean([s['latency_ms']['total']['p95'] for s in per]):.2f} | {total['latency_ms']['inference']['p50']:.2f} |")
    det.close()


if __name__ == "__main__":
    main()
