"""`make demo`: the whole product on the embedded defaults, on a CPU, with no downloads.

train the default model (esmoe-pico-shared) on the built-in synthetic scenes -> export a sparse bundle (only the K selected
experts run) -> build its TensorRT-RTX engines (no GPU needed) -> encode a video of held-out scenes
-> run the torch-free runtime over it -> print a summary and leave the annotated video, the
expert-activation plot and the JSONL in one folder.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from edge_moe.data.synthetic import render_frames
from edge_moe.errors import UserError, run_main
from edge_moe.exporters import export_with_report
from edge_moe.runtime import format_summary, run_to_folder
from edge_moe.runtime.bundle import load_bundle
from edge_moe.runtime.sinks import VideoSink
from edge_moe.trainers import DEMO, train

VIDEO_FRAMES = 240  # 16 s at 15 fps


def write_video(path: Path, count: int, imgsz: int, classes: int) -> Path:
    """Encodes held-out synthetic scenes (never seen in training) as MP4, like any user video."""
    with VideoSink(path, fps=15) as sink:
        for frame in render_frames(count, imgsz, classes):
            sink.write(frame)
    return path


def format_validation(metrics: dict) -> str:
    lines = [f"  validation: mAP50-95 {metrics['map50_95']:.3f}  mAP50 {metrics['map50']:.3f}  AR100 {metrics['ar100']:.3f}"]
    for regime, m in metrics.get("by_regime", {}).items():
        lines.append(f"    {regime:<8} mAP50-95 {m['map50_95']:.3f}  mAP50 {m['map50']:.3f}")
    return "\n".join(lines)


DEMO_OUTPUTS = {"train", "bundle", "heldout.mp4", "run"}


def clear_output(out: Path) -> None:
    """Removes an earlier demo's output; refuses a folder holding anything else."""
    if not out.exists():
        return
    if not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder")
    foreign = sorted(p.name for p in out.iterdir() if p.name not in DEMO_OUTPUTS)
    if foreign:
        raise UserError(f"--out {out}: holds files that are not an earlier demo's output ({', '.join(foreign[:3])}); choose another folder")
    shutil.rmtree(out)


def build_rtx_engines(bundle: Path) -> None:
    """TensorRT-RTX engines for every graph of the bundle, and the GPUs they run on (skipped without tensorrt-rtx)."""
    import importlib.util

    from edge_moe.exporters.engine_policy import runs_on
    from edge_moe.exporters.tensorrt_build import build_engines

    if importlib.util.find_spec("tensorrt_rtx") is None:
        print("skipped: TensorRT-RTX is not installed (pip install 'edge-moe[tensorrt-rtx]')")
        return
    report = build_engines(bundle, target="tensorrt-rtx", validate_frames=0)
    print(f"TensorRT-RTX {report.device.tensorrt}: {len(report.built)} FP16 engines built in {sum(report.seconds.values()):.1f} s "
          f"({len(report.reused)} reused) in {bundle / 'engines'}")
    print(f"they run on {runs_on(report.device.targets)} GPUs")


def _step(title: str) -> float:
    print(f"\n=== {title} ===", flush=True)
    return time.perf_counter()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/demo", help="output folder (an earlier demo's output there is replaced)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    clear_output(out)
    started = time.perf_counter()

    t = _step(f"1/5 train {DEMO.model} on {DEMO.data} ({DEMO.epochs} epochs, {DEMO.imgsz} px, CPU)")
    trained = train(DEMO, out=out / "train")
    print(f"trained in {time.perf_counter() - t:.0f} s -> {trained.best_weights}")

    t = _step("2/5 export a sparse bundle (static top-K branches) and check it")
    report = export_with_report(trained.best_weights, out / "bundle", routing="sparse")
    print(report.census())
    print(f"bundle {report.bundle} ({report.lowering}) exported and checked in {time.perf_counter() - t:.0f} s")

    _step("3/5 build TensorRT-RTX engines for the bundle (ahead of time, on this CPU)")
    build_rtx_engines(report.bundle)

    t = _step(f"4/5 encode {VIDEO_FRAMES} held-out synthetic scenes as a video")
    video = write_video(out / "heldout.mp4", VIDEO_FRAMES, DEMO.imgsz, len(load_bundle(report.bundle).class_names))
    print(f"{video} in {time.perf_counter() - t:.0f} s")

    _step("5/5 run the torch-free runtime over the video (backend auto: the engines on a GPU they target, else ONNX Runtime CPU)")
    run = run_to_folder(report.bundle, str(video), out / "run")

    print("\n=== summary ===")
    print(format_validation(trained.metrics))
    print(format_summary(run.summary))
    print(f"\ntotal {time.perf_counter() - started:.0f} s. Outputs in {out.resolve()}:")
    for kind, path in run.files.items():
        print(f"  {kind:<8} {path}")


if __name__ == "__main__":
    sys.exit(run_main(main, "edge-moe demo"))
