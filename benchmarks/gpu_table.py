"""The GPU table of docs/benchmarks.md: sparse vs dense at 640 on one CUDA GPU, side by side in one run.

    python benchmarks/gpu_table.py [--models esmoe-n,esmoe-n-e8] [--iters 200] [--out docs/benchmarks.md]

Rows per model: PyTorch FP16 eager (sparse, dense) and dense replayed from a CUDA graph; the plan
executor on ONNX Runtime (CUDA provider when installed); and, where TensorRT (or TensorRT-RTX) builds
and runs engines here, the plan executor on FP16 engines with CUDA graphs. Every plan row carries the
host <-> device bytes per frame. The markdown is printed and, with --out, appended with the GPU name
and the date, so figures are never quoted without the machine that made them.
"""
from __future__ import annotations

import argparse
import datetime
import tempfile
from pathlib import Path

import torch

from edge_moe.errors import UserError
from edge_moe.exporters.bench import benchmark
from edge_moe.exporters.export import export_with_report


def tensorrt_rows(model: str, iters: int, scratch: Path) -> list[str]:
    """Sparse and dense FP16 engines of ``model`` at 640, timed side by side; empty when no TensorRT runs here."""
    from edge_moe.exporters.tensorrt_build import build_engines

    sparse, dense = scratch / f"{model}-sparse", scratch / f"{model}-dense"
    export_with_report(model, sparse, imgsz=640, parity_count=1, other_out=dense, uint8_input=True)
    rows, p50 = [], {}
    for routing, bundle in (("sparse", sparse), ("dense", dense)):
        try:
            build_engines(bundle, fp16=True, validate_frames=4, progress=False)
            report = benchmark(str(bundle), ("tensorrt",), iters=iters, warmup=20, progress=False, cuda_graphs=True)
        except UserError as error:
            return [f"(TensorRT rows skipped: {error})"]
        rows += report.table().splitlines()[2:]
        p50[routing] = report.results[0].latency_ms_p50
    return rows + ["", f"TensorRT FP16 sparse / dense (p50): {p50['sparse'] / p50['dense']:.2f}x"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="esmoe-n,esmoe-n-e8")
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--out", default=None, help="markdown file to append the table to")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_table: no CUDA GPU visible to torch")
    gpu = torch.cuda.get_device_name(0)
    lines = [f"### {gpu}, {datetime.date.today().isoformat()} (batch 1, 640 px, `benchmarks/gpu_table.py --iters {args.iters}`)", ""]
    with tempfile.TemporaryDirectory() as scratch:
        for model in args.models.split(","):
            torch.manual_seed(0)
            report = benchmark(model, ("torch", "onnxruntime"), imgsz=640, iters=args.iters, warmup=20, progress=False,
                               device="cuda", cuda_graphs=True)
            lines += [f"`{model}`", "", report.table(), *tensorrt_rows(model, args.iters, Path(scratch)), ""]
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "a") as handle:
            handle.write(text + "\n")


if __name__ == "__main__":
    main()
