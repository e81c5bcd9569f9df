"""Drive a stream into sinks and return the summary: what ``edge-moe run`` and ``make demo`` call.

    outputs = run_to_folder("bundle", "video.mp4", "runs/demo")   # annotated.mp4, experts.png, frames.jsonl, summary.json
    print(format_summary(outputs.summary))
"""
from __future__ import annotations

import json
import logging
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

from edge_moe.runtime.detector import BundleRunner, SourceSpec, open_runner
from edge_moe.runtime.sinks import ExpertTimeline, FrameAnnotator, JsonlSink, VideoSink, WindowSink
from edge_moe.runtime.sinks.atomic import atomic_write
from edge_moe.runtime.sources import SourceOptions

log = logging.getLogger("edge_moe.runtime")


@dataclass
class RunOutputs:
    summary: dict
    files: dict[str, Path] = field(default_factory=dict)  # kind (jsonl, video, plot, summary) -> path
    interrupted: bool = False


def run_stream(detector: BundleRunner, source: SourceSpec, *, log_path: Optional[Union[str, Path]] = None,
               video_path: Optional[Union[str, Path]] = None, plot_path: Optional[Union[str, Path]] = None,
               summary_path: Optional[Union[str, Path]] = None, show: bool = False, max_frames: Optional[int] = None,
               options: SourceOptions = SourceOptions(), progress: bool = True) -> RunOutputs:
    """Runs ``detector`` over ``source`` writing the requested outputs; Ctrl-C ends it cleanly
    (sinks are finalised and the summary covers the frames processed)."""
    stream = detector.stream(source, options, max_frames)
    jsonl = JsonlSink(log_path) if log_path else None
    window = WindowSink() if show else None
    timeline = ExpertTimeline(detector.layers) if plot_path and detector.layers else None
    annotator = FrameAnnotator(detector.layers) if (video_path or show) else None
    video: Optional[VideoSink] = None
    bar = None
    interrupted = False

    def on_sigint(signum, frame) -> None:
        """Ctrl-C asks the stream to stop at the next frame (a second one raises KeyboardInterrupt)."""
        nonlocal interrupted
        if interrupted:
            raise KeyboardInterrupt
        interrupted = True
        log.warning("interrupted: finishing the outputs of the frames processed (Ctrl-C again to abort)")
        stream.stop()

    previous_handler = signal.signal(signal.SIGINT, on_sigint) if threading.current_thread() is threading.main_thread() else None
    iterator = iter(stream)
    try:
        for result in iterator:
            if bar is None and progress:
                bar = _progress_bar(stream, max_frames)
            if jsonl:
                jsonl.write(result)
            if timeline:
                timeline.write(result)
            if annotator:
                frame = annotator.annotate(result)
                if video_path:
                    if video is None:
                        video = VideoSink(video_path, getattr(stream.source, "fps", 0.0) or 30.0)
                    video.write(frame)
                if window and not window.write(frame):
                    break
            if bar is not None:
                bar.update(1)
                found = f"{result.classes.names[0]}" if result.classes is not None and len(result.classes) else f"{len(result.detections)} boxes"
                bar.set_postfix_str(f"{result.fps:.1f} fps, {found}", refresh=False)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if previous_handler is not None:
            signal.signal(signal.SIGINT, previous_handler)
        iterator.close()
        if bar is not None:
            bar.close()
        for sink in (jsonl, video, window):
            if sink is not None:
                sink.close()
    summary = stream.summary()
    summary["interrupted"] = interrupted
    files: dict[str, Path] = {}
    if jsonl:
        files["jsonl"] = Path(log_path)
    if video is not None:
        files["video"] = Path(video_path)
    if timeline and timeline.count:
        files["plot"] = timeline.save_png(plot_path, title=f"expert activation, {detector.bundle.model}")
    if summary_path:
        files["summary"] = write_json(summary_path, summary)
    return RunOutputs(summary, files, interrupted)


def run_to_folder(model: Union[str, Path], source: SourceSpec, out_dir: Union[str, Path], *, backend: str = "auto",
                  conf: float = 0.25, iou: float = 0.45, top_k: Optional[int] = None, max_frames: Optional[int] = None,
                  progress: bool = True) -> RunOutputs:
    """Everything about one run under ``out_dir``: annotated.mp4, experts.png, frames.jsonl, summary.json."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    detector = open_runner(model, backend=backend, conf=conf, iou=iou, top_k=top_k)
    return run_stream(detector, source, log_path=out / "frames.jsonl", video_path=out / "annotated.mp4",
                      plot_path=out / "experts.png", summary_path=out / "summary.json", max_frames=max_frames, progress=progress)


def write_json(path: Union[str, Path], data: dict) -> Path:
    """Writes ``data`` as indented JSON atomically; an unwritable path is a one-line ``UserError`` naming it."""
    text = json.dumps(data, indent=2) + "\n"
    return atomic_write(path, lambda temp: temp.write_text(text))


def _progress_bar(stream, max_frames: Optional[int]):
    from tqdm import tqdm

    total = getattr(stream.source, "expected", 0) or None
    if max_frames:
        total = min(total, max_frames) if total else max_frames
    return tqdm(total=total, unit="frame", desc=stream.source.description[:40], leave=False, dynamic_ncols=True)
