"""`edge-moe bench`: latency of backends x routings side by side (batch 1, or a batched bundle's batch), with executed compute."""
from __future__ import annotations

import argparse
import json

from edge_moe.commands.values import non_negative_int, positive_int

HELP = "time inference of backends x routings side by side (latency, FPS, executed GFLOPs, host bytes per frame)"


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="MODEL|BUNDLE", help="zoo name, checkpoint (.pt) or bundle directory")
    parser.add_argument("--backend", type=_names, default=None,
                        help="comma list of torch,onnxruntime,tensorrt (default torch,onnxruntime; a bundle: onnxruntime, "
                             "plus tensorrt when its engines run here)")
    parser.add_argument("--routing", type=_names, default=None, help="comma list of sparse,dense (default both; a bundle: its own)")
    parser.add_argument("--imgsz", type=positive_int, default=None, help="square input size, a multiple of 32 (default: the model's)")
    parser.add_argument("--iters", type=positive_int, default=50, help="timed calls per configuration (default 50; a call is one frame, or a batched bundle's batch)")
    parser.add_argument("--warmup", type=non_negative_int, default=5, help="untimed frames first (default 5)")
    parser.add_argument("--threads", type=non_negative_int, default=0, help="torch and ONNX Runtime threads (default 0: each library's default)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where the torch rows run (cuda: FP16) (default cpu)")
    parser.add_argument("--cuda-graphs", choices=("on", "off"), default="off",
                        help="capture graphs into CUDA graphs and replay them: a dense torch row on --device cuda, the plan "
                             "executor's graphs on TensorRT / ONNX Runtime CUDA (default off)")
    parser.add_argument("--top-k", type=positive_int, default=None,
                        help="the onnxruntime/tensorrt rows run only K' <= K experts per MoE layer, as `edge-moe run --top-k` (torch rows: the model's K)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    from edge_moe.exporters.bench import benchmark
    from edge_moe.model_source import source_kind
    from edge_moe.runtime.backends.select import tensorrt_usable
    from edge_moe.runtime.bundle import load_bundle

    backends, routings = args.backend, args.routing
    if source_kind(args.source) == "bundle":
        bundle = load_bundle(args.source)
        backends = backends or (("onnxruntime",) if tensorrt_usable(bundle) else ("onnxruntime", "tensorrt"))
        routings = routings or (bundle.routing,)
    report = benchmark(
        args.source, backends or ("torch", "onnxruntime"), routings or ("sparse", "dense"),
        imgsz=args.imgsz, iters=args.iters, warmup=args.warmup, progress=not args.json, threads=args.threads,
        device=args.device, cuda_graphs=args.cuda_graphs == "on", top_k=args.top_k,
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0
    print(f"{report.model} at {report.imgsz}x{report.imgsz}, batch {report.batch}, {report.iters} calls each, configurations in turns of 5 calls ({report.machine})")
    print(report.table())
    return 0
