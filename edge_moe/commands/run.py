"""`edge-moe run`: a bundle on a camera, file or network stream, with FPS and per-frame expert activation."""
from __future__ import annotations

import argparse
import math

HELP = "run a bundle on a camera, video, images or a network stream (torch-free)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="bundle directory (from `edge-moe export`)")
    parser.add_argument("--source", required=True,
                        help="camera index (0), v4l2:///dev/video0, csi://0?width=1280&height=720&fps=30&flip=0, gst:PIPELINE, "
                             "rtsp://..., http(s)://... (MJPEG, HLS), a video, an image, a directory or a glob of images")
    parser.add_argument("--backend", default="auto", choices=("auto", "onnxruntime", "tensorrt"),
                        help="auto: TensorRT engines built for this machine if present, else ONNX Runtime")
    parser.add_argument("--providers", default=None,
                        help="ONNX Runtime execution providers in order, comma-separated (default: TensorRT, CUDA, CPU as available)")
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0: its default)")
    parser.add_argument("--cuda-graphs", choices=("on", "off"), default="off",
                        help="capture each graph call into a CUDA graph once and replay it (TensorRT, ONNX Runtime CUDA)")
    parser.add_argument("--conf", type=float, default=0.25, help="minimum class score")
    parser.add_argument("--iou", type=float, default=0.45, help="NMS IoU threshold")
    parser.add_argument("--top-k", type=int, default=None, help="run only K' <= K experts per MoE layer (less compute)")
    parser.add_argument("--max-frames", type=int, default=None, help="stop after N frames")
    parser.add_argument("--log", default=None, metavar="F.jsonl", help="one JSON object per frame")
    parser.add_argument("--save", default=None, metavar="F.mp4", help="annotated video (.mp4 or .avi)")
    parser.add_argument("--plot", default=None, metavar="F.png", help="expert activation over time (PNG)")
    parser.add_argument("--summary-json", default=None, metavar="F.json", help="the end-of-run summary as JSON")
    parser.add_argument("--show", action="store_true", help="show the annotated frames in a window (q / Esc stops)")
    parser.add_argument("--rtsp-transport", choices=("tcp", "udp"), default=None, help="RTSP transport (OpenCV's default: tcp)")
    parser.add_argument("--retry-for", type=float, default=10.0,
                        help="live sources: seconds to keep trying to (re)connect before giving up (-1: forever)")
    parser.add_argument("--open-timeout", type=float, default=10.0, help="seconds to wait for a stream or file to open")
    parser.add_argument("--read-timeout", type=float, default=5.0, help="seconds of silence after which a stream counts as dropped")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import logging
    import sys

    from edge_moe.errors import UserError
    from edge_moe.runtime.detector import Detector
    from edge_moe.runtime.meters import format_summary
    from edge_moe.runtime.report import run_stream
    from edge_moe.runtime.sources import RetryPolicy, SourceOptions

    logging.basicConfig(level=logging.INFO, format="edge-moe run: %(message)s", stream=sys.stderr)
    for name in ("open_timeout", "read_timeout"):
        if not getattr(args, name) > 0:
            raise UserError(f"--{name.replace('_', '-')} must be > 0 seconds, got {getattr(args, name)}")
    retry_for = None if args.retry_for < 0 or math.isinf(args.retry_for) else args.retry_for
    options = SourceOptions(args.open_timeout, args.read_timeout, RetryPolicy(retry_for), args.rtsp_transport)
    providers = [p.strip() for p in args.providers.split(",") if p.strip()] if args.providers else None
    detector = Detector(args.model, backend=args.backend, conf=args.conf, iou=args.iou, top_k=args.top_k,
                        providers=providers, threads=args.threads, cuda_graphs=args.cuda_graphs == "on")
    outputs = run_stream(detector, args.source, log_path=args.log, video_path=args.save, plot_path=args.plot,
                         summary_path=args.summary_json, show=args.show, max_frames=args.max_frames, options=options,
                         progress=not args.quiet)
    summary = outputs.summary
    print(f"{detector.bundle.model} on {args.source} ({summary['backend']}, routing {detector.bundle.routing})")
    print(format_summary(summary))
    for kind, path in outputs.files.items():
        print(f"{kind:<8} {path}")
    if summary.get("error"):
        print(f"edge-moe run: warning: {summary['error']}", file=sys.stderr)
    if outputs.interrupted:
        return 130
    if summary["frames"] == 0:
        raise UserError(f"{args.source}: no frames could be processed" + (f" ({summary['error']})" if summary.get("error") else ""))
    return 0
