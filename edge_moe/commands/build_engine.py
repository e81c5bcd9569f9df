"""`edge-moe build-engine BUNDLE`: TensorRT engines (FP16 by default) for every graph of a bundle."""
from __future__ import annotations

import argparse

HELP = "build TensorRT engines for a bundle (FP16, router kept FP32; needs tensorrt + a CUDA GPU)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", help="bundle directory written by `edge-moe export`")
    parser.add_argument("--fp16", action=argparse.BooleanOptionalAction, default=True, help="FP16 engines (default) or FP32")
    parser.add_argument("--workspace", type=int, default=1024, metavar="MiB", help="builder workspace limit (default 1024 MiB)")
    parser.add_argument("--timing-cache", default=None, metavar="PATH", help="timing cache file to reuse and update (default: per GPU under ~/.cache/edge-moe)")
    parser.add_argument("--version-compatible", action="store_true", help="engines loadable by later TensorRT of the same major version (slower)")
    parser.add_argument("--validate-frames", type=int, default=8, help="frames for the FP16-vs-FP32 check after the build (0: skip)")


def run(args: argparse.Namespace) -> int:
    from edge_moe.exporters.tensorrt_build import build_engines

    report = build_engines(
        args.bundle, fp16=args.fp16, workspace_mib=args.workspace, timing_cache=args.timing_cache,
        version_compatible=args.version_compatible, validate_frames=args.validate_frames,
    )
    device = report.device
    print(f"TensorRT {device.tensorrt} on {device.gpu} (sm {device.compute_capability}), {report.precision.name} "
          f"({report.precision.mode}): built {len(report.built)}, reused {len(report.reused)} engines in {report.bundle}")
    if report.validation:
        v = report.validation
        print(f"engines vs ONNX Runtime FP32: boxes max abs diff {v['boxes_max_abs_diff']:.3g}, "
              f"scores {v['scores_max_abs_diff']:.3g}, routing agreement {v['routing_agreement']:.1%}")
    if report.warning:
        print(report.warning)
    return 0
