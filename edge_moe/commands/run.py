"""`edge-moe run`: a bundle on a camera, file or network stream, with FPS and per-frame expert activation."""
from __future__ import annotations

import argparse

from edge_moe.commands.values import non_negative_int, positive_float, positive_int, probability, seconds_or_forever

HELP = "run a bundle on a camera, video, images or a network stream (torch-free)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="bundle directory (from `edge-moe export`)")
    parser.add_argument("--source", required=True, action="append",
                        help="repeat for several sources on one model (one thread each; --save DIR/ writes DIR/<source>.mp4): camera index (0), v4l2:///dev/video0, csi://0?width=1280&height=720&fps=30&flip=0, gst:PIPELINE, "
                             "rtsp://..., http(s)://... (MJPEG, HLS), a video, an image, a directory or a glob of images")
    parser.add_argument("--backend", default="auto", choices=("auto", "onnxruntime", "tensorrt"),
                        help="auto: TensorRT engines built for this machine if present, else ONNX Runtime")
    parser.add_argument("--providers", default=None,
                        help="ONNX Runtime execution providers in order, comma-separated (default: TensorRT, CUDA, CPU as available)")
    parser.add_argument("--threads", type=non_negative_int, default=0, help="ONNX Runtime intra-op threads (default 0: its default)")
    parser.add_argument("--cuda-graphs", choices=("on", "off"), default="off",
                        help="capture each graph call into a CUDA graph once and replay it (TensorRT, ONNX Runtime CUDA; default off)")
    parser.add_argument("--conf", type=probability, default=0.25, help="minimum class score (detectors; default %(default)s)")
    parser.add_argument("--iou", type=probability, default=0.45, help="NMS IoU threshold (detectors; default %(default)s)")
    parser.add_argument("--max-det", type=positive_int, default=300, help="most boxes kept per frame (detectors; default %(default)s)")
    parser.add_argument("--classes", type=_classes, default=None, metavar="IDS|NAMES",
                        help="keep only these classes: comma list of ids or names, e.g. 0,2 or person,car (default: all)")
    parser.add_argument("--top-k", type=positive_int, default=None, help="run only K' <= K experts per MoE layer (less compute)")
    parser.add_argument("--max-frames", type=positive_int, default=None, help="stop after N frames")
    parser.add_argument("--log", default=None, metavar="F.jsonl", help="one JSON object per frame, written and flushed as the run goes (tail -f)")
    parser.add_argument("--save", default=None, metavar="F.mp4|DIR/",
                        help="annotated video (.mp4 or .avi); DIR/: annotated images for image sources, DIR/<name>.mp4 otherwise")
    parser.add_argument("--plot", default=None, metavar="F.png", help="expert activation over time (PNG)")
    parser.add_argument("--summary-json", default=None, metavar="F.json", help="the end-of-run summary as JSON")
    parser.add_argument("--expert-strip", action=argparse.BooleanOptionalAction, default=True,
                        help="draw the experts that ran over the bottom of the annotated frames (default on)")
    parser.add_argument("--show", action="store_true", help="show the annotated frames in a window (q / Esc stops)")
    parser.add_argument("--rtsp-transport", choices=("tcp", "udp"), default=None, help="RTSP transport (OpenCV's default: tcp)")
    parser.add_argument("--retry-for", type=seconds_or_forever, default=10.0,
                        help="live sources: seconds to keep trying to (re)connect before giving up (-1: forever; default %(default)s)")
    parser.add_argument("--open-timeout", type=positive_float, default=10.0, help="seconds to wait for a stream or file to open (default %(default)s)")
    parser.add_argument("--read-timeout", type=positive_float, default=5.0, help="seconds of silence after which a stream counts as dropped (default %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _classes(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected a comma list of class ids or names, got {text!r}")
    return names


def class_ids(wanted: list[str], class_names: list[str], where: str) -> list[int]:
    """``--classes`` entries (ids or names) -> class ids of the bundle; an unknown one is a one-line error."""
    from edge_moe.errors import UserError

    ids = []
    for item in wanted:
        if item.isdigit() and int(item) < len(class_names):
            ids.append(int(item))
        elif item in class_names:
            ids.append(class_names.index(item))
        else:
            raise UserError(f"--classes {item}: {where} has classes 0..{len(class_names) - 1} {class_names[:10]}")
    return ids


def run(args: argparse.Namespace) -> int:
    import logging
    import sys

    from edge_moe.errors import UserError
    from edge_moe.runtime.bundle import load_bundle
    from edge_moe.runtime.detector import open_runner
    from edge_moe.runtime.meters import format_summary
    from edge_moe.runtime.multi_report import format_multi_summary, run_sources
    from edge_moe.runtime.report import run_stream
    from edge_moe.runtime.sources import RetryPolicy, SourceOptions
    from edge_moe.runtime.sources.capture import quiet_opencv

    logging.basicConfig(level=logging.INFO, format="edge-moe run: %(message)s", stream=sys.stderr)
    quiet_opencv()
    retry_for = None if args.retry_for == -1 else args.retry_for
    options = SourceOptions(args.open_timeout, args.read_timeout, RetryPolicy(retry_for), args.rtsp_transport)
    providers = [p.strip() for p in args.providers.split(",") if p.strip()] if args.providers else None
    bundle = load_bundle(args.model)
    classes = class_ids(args.classes, bundle.class_names, args.model) if args.classes else None
    detector = open_runner(bundle, backend=args.backend, top_k=args.top_k, providers=providers, threads=args.threads,
                           conf=args.conf, iou=args.iou, max_det=args.max_det, classes=classes,
                           cuda_graphs=args.cuda_graphs == "on")  # a Detector or a Classifier, by the bundle's task
    common = dict(log_path=args.log, plot_path=args.plot, summary_path=args.summary_json, show=args.show, max_frames=args.max_frames,
                  options=options, progress=not args.quiet, strip=args.expert_strip)
    if len(args.source) > 1:  # one model, one thread per source, per-source outputs and summaries plus the total
        outputs = run_sources(detector, args.source, save_dir=args.save, **common)
        title, total, table = f"{len(args.source)} sources", outputs.summary["total"], format_multi_summary(outputs.summary)
        errors = [each["error"] for each in outputs.summary["sources"].values() if each.get("error")]
    else:
        outputs = run_stream(detector, args.source[0], video_path=args.save, **common)
        title, total, table = args.source[0], outputs.summary, format_summary(outputs.summary)
        errors = [total["error"]] if total.get("error") else []
    print(f"{detector.bundle.model} on {title} ({total['backend']}, routing {detector.bundle.routing})")
    print(table)
    for kind, path in outputs.files.items():
        print(f"{kind:<8} {path}")
    for error in errors:
        print(f"edge-moe run: warning: {error}", file=sys.stderr)
    if outputs.interrupted:  # 130 after Ctrl-C, 143 after SIGTERM: the outputs are complete, the run was stopped
        return 128 + int(outputs.stop_signal)
    if total["frames"] == 0:
        raise UserError(f"{', '.join(args.source)}: no frames could be processed" + (f" ({'; '.join(errors)})" if errors else ""))
    return 0
