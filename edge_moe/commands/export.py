"""`edge-moe export`: a checkpoint or zoo model -> a checked deployment bundle (ONNX + manifest)."""
from __future__ import annotations

import argparse
import json

from edge_moe.commands.values import positive_int

HELP = "export a model to a deployment bundle (ONNX graphs + manifest), with checks and parity"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--weights", help="checkpoint (.pt) written by `edge-moe train`")
    source.add_argument("--model", help="zoo model name (initialised weights; see `edge-moe models`)")
    parser.add_argument("--out", required=True, help="bundle directory to write (replaced atomically if it is a bundle)")
    parser.add_argument("--imgsz", type=positive_int, default=None, help="square input size, a multiple of 32 (default: the model's)")
    parser.add_argument("--routing", default="sparse", help="sparse (only the K chosen experts run; default) or dense")
    parser.add_argument("--opset", type=positive_int, default=None, help="ONNX opset (default 17: TensorRT 8.5 / JetPack 5)")
    parser.add_argument("--parity-images", type=positive_int, default=4, help="images in the parity check (default 4)")
    parser.add_argument("--uint8-input", action="store_true",
                        help="the first graph takes the letterboxed BGR frame as uint8 and normalises it in-graph "
                             "(4x fewer bytes to the GPU than float32)")
    parser.add_argument("--batch", type=positive_int, default=1,
                        help="frames per call (default 1); a sparse bundle runs each expert once on the frames that chose it")
    parser.add_argument("--json", action="store_true", help="print the check report as JSON")


def run(args: argparse.Namespace) -> int:
    from edge_moe.exporters.export import export_with_report

    report = export_with_report(
        args.weights or args.model, args.out, imgsz=args.imgsz, routing=args.routing, opset=args.opset,
        parity_count=args.parity_images, progress=not args.json, uint8_input=args.uint8_input,
        batch=args.batch,
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0
    print(format_report(report))
    return 0


def format_report(report) -> str:
    lines = [
        f"exported {report.model} ({report.routing}, {report.lowering} lowering, {report.imgsz}x{report.imgsz}) "
        f"-> {report.bundle}  [{len(report.graphs)} graphs, {report.seconds:.1f} s]",
        "",
        "TensorRT operator census (all graphs pass onnx.checker full check and have static shapes):",
        report.census(),
        "",
        f"parity on {report.parity['images']} images (max abs diff; routing = fraction of identical expert ids):",
    ]
    labels = {"sparse": "PyTorch vs ORT sparse", "dense": "PyTorch vs ORT dense", "sparse_vs_dense": "ORT sparse vs dense",
              "fp16_onnxruntime_cpu": "ORT FP16 ONNX vs FP32 (CPU)"}
    columns = [k for k in report.parity[report.routing] if k.endswith("_diff")]  # boxes (px), boxes / imgsz, scores | logits, probs
    lines.append("| comparison | " + " | ".join(k.replace("_max_abs_diff", "").replace("boxes_max_norm_diff", "boxes / imgsz") for k in columns) + " | routing |")
    lines.append("|---|" + "---:|" * (len(columns) + 1))
    for key, label in labels.items():
        if key in report.parity:
            f = report.parity[key]
            lines.append(f"| {label} | " + " | ".join(f"{f[k]:.2e}" for k in columns) + f" | {f['routing_agreement']:.1%} |")
    return "\n".join(lines)
