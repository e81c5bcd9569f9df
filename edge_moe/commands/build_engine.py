"""`edge-moe build-engine BUNDLE`: TensorRT or TensorRT-RTX engines (FP16 by default) for every graph of a bundle."""
from __future__ import annotations

import argparse

from edge_moe.commands.values import non_negative_int, positive_int

HELP = "build TensorRT / TensorRT-RTX engines for a bundle (FP16, router kept FP32; TensorRT-RTX needs no GPU)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from edge_moe.exporters.engine_policy import TARGETS  # torch-free and cheap

    parser.add_argument("bundle", help="bundle directory written by `edge-moe export`")
    parser.add_argument("--target", default="auto", choices=TARGETS,
                        help="auto (default): TensorRT when it is installed and a CUDA GPU is present, else TensorRT-RTX")
    parser.add_argument("--compute-capability", default=None, metavar="LIST",
                        help="TensorRT-RTX targets, e.g. 8.6,8.9,12.0 (default: 8.0 and later; 7.5 only when asked)")
    parser.add_argument("--dla", type=non_negative_int, default=None, metavar="CORE",
                        help="run on a Jetson AGX Orin / Xavier DLA core (0 or 1), GPU fallback on; TensorRT only")
    parser.add_argument("--fp16", action=argparse.BooleanOptionalAction, default=True, help="FP16 engines (default) or FP32")
    parser.add_argument("--workspace", type=positive_int, default=1024, metavar="MiB", help="builder workspace limit (default 1024 MiB)")
    parser.add_argument("--timing-cache", default=None, metavar="PATH", help="timing cache file to reuse and update (default: per GPU under ~/.cache/edge-moe)")
    parser.add_argument("--version-compatible", action="store_true", help="engines loadable by later TensorRT of the same major version (slower)")
    parser.add_argument("--validate-frames", type=non_negative_int, default=8, help="frames for the FP16-vs-FP32 check after the build (0: skip)")


def run(args: argparse.Namespace) -> int:
    from edge_moe.exporters.engine_policy import runs_on
    from edge_moe.exporters.tensorrt_build import build_engines
    from edge_moe.runtime.bundle import ENGINE_FLAVOURS

    report = build_engines(
        args.bundle, fp16=args.fp16, workspace_mib=args.workspace, timing_cache=args.timing_cache,
        version_compatible=args.version_compatible, validate_frames=args.validate_frames,
        target=args.target, compute_capabilities=args.compute_capability, dla_core=args.dla,
    )
    device = report.device
    where = f"on {device.gpu} (sm {device.compute_capability})" if device.gpu else f"for compute capability {'/'.join(device.targets)}"
    seconds = f" in {sum(report.seconds.values()):.1f} s" if report.built else ""
    print(f"{ENGINE_FLAVOURS[device.flavour].label} {device.tensorrt} {where}, {report.precision.name} ({report.precision.mode}): "
          f"built {len(report.built)}{seconds}, reused {len(report.reused)} engines in {report.bundle}")
    if not device.gpu:
        print(f"they run on {runs_on(device.targets)} GPUs (compiled for the GPU at first load)")
    if report.validation:
        v = report.validation
        print(f"engines vs ONNX Runtime FP32: boxes max abs diff {v['boxes_max_abs_diff']:.3g}, "
              f"scores {v['scores_max_abs_diff']:.3g}, routing agreement {v['routing_agreement']:.1%}")
    if report.warning:
        print(report.warning)
    return 0
