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
from typing import Callable, Optional, Union

from edge_moe.runtime.detector import BundleRunner, SourceSpec, open_runner
from edge_moe.runtime.outputs import check_outputs, is_folder
from edge_moe.runtime.sinks import ExpertTimeline, FrameAnnotator, ImageFolderSink, JsonlSink, VideoSink, WindowSink
from edge_moe.runtime.sinks.atomic import atomic_write
from edge_moe.runtime.sources import Source, SourceOptions, open_source
from edge_moe.runtime.sources.files import ImageSource

log = logging.getLogger("edge_moe.runtime")


@dataclass
class RunOutputs:
    summary: dict
    files: dict[str, Path] = field(default_factory=dict)  # kind (jsonl, video, images, plot, summary) -> path
    interrupted: bool = False
    stop_signal: Optional[int] = None  # SIGINT or SIGTERM when a signal ended the run


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # Ctrl-C, and what systemd, docker, ROS launch and `timeout` send


def run_stream(detector: BundleRunner, source: SourceSpec, *, log_path: Optional[Union[str, Path]] = None,
               video_path: Optional[Union[str, Path]] = None, plot_path: Optional[Union[str, Path]] = None,
               summary_path: Optional[Union[str, Path]] = None, show: bool = False, max_frames: Optional[int] = None,
               options: SourceOptions = SourceOptions(), progress: bool = True, strip: bool = True) -> RunOutputs:
    """Runs ``detector`` over ``source`` writing the requested outputs.

    Output paths are checked before the first frame. ``video_path`` may be a folder (``DIR/``): annotated images
    for image sources, ``DIR/<source name>.mp4`` otherwise. Ctrl-C or SIGTERM ends the run cleanly: the current
    frame finishes, sinks are closed (the video stays playable) and the summary covers the frames processed.
    """
    opened = open_source(source, options)  # a bad source fails here, before any output is touched
    try:
        stream = detector.stream(opened, options, max_frames)
        sinks = _open_sinks(detector, opened, log_path, video_path, plot_path, summary_path, show, strip)
    except BaseException:
        opened.close()
        raise
    try:
        stopper = drive(stream, sinks.write, (lambda: _progress_bar(stream, max_frames)) if progress else None,
                        lambda result: f"{result.fps:.1f} fps, {found_text(result)}")
    finally:
        sinks.close()
    summary = stream.summary()
    summary["interrupted"] = stopper.signal is not None
    files = sinks.files(plot_path, f"expert activation, {detector.bundle.model}")
    if summary_path:
        files["summary"] = write_json(summary_path, summary)
    return RunOutputs(summary, files, stopper.signal is not None, stopper.signal)


def drive(stream, write: Callable[[object], bool], progress_bar: Optional[Callable[[], object]],
          describe: Callable[[object], str]) -> "SignalStop":
    """Iterates ``stream`` (a Stream or MultiStream) into ``write`` until the end, a False from ``write``, Ctrl-C or
    SIGTERM; a progress bar (made at the first result) shows ``describe(result)``. Returns the SignalStop that says
    which signal, if any, ended it."""
    bar = None
    stopper = SignalStop(stream.stop)
    iterator = iter(stream)
    try:
        with stopper:
            for result in iterator:
                if bar is None and progress_bar is not None:
                    bar = progress_bar()
                if not write(result):
                    break
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix_str(describe(result), refresh=False)
    finally:
        iterator.close()
        if bar is not None:
            bar.close()
    return stopper


def found_text(result) -> str:
    """What a frame found, for the progress bar: the top class, or the number of boxes."""
    return f"{result.classes.names[0]}" if result.classes is not None and len(result.classes) else f"{len(result.detections)} boxes"


class SignalStop:
    """While entered (in the main thread): the first Ctrl-C / SIGTERM calls ``stop`` so the run ends after the current
    frame; a second one aborts. A KeyboardInterrupt inside is swallowed: ``signal`` says which signal ended the run."""

    def __init__(self, stop: Callable[[], None]):
        self.stop = stop
        self.signal: Optional[int] = None
        self.previous: dict = {}

    def __enter__(self) -> "SignalStop":
        if threading.current_thread() is threading.main_thread():
            self.previous = {sig: signal.signal(sig, self._on_signal) for sig in STOP_SIGNALS}
        return self

    def _on_signal(self, signum, frame) -> None:
        if self.signal is not None:
            raise KeyboardInterrupt
        self.signal = signum
        log.warning("%s: finishing the outputs of the frames processed (a second signal aborts)", signal.Signals(signum).name)
        self.stop()

    def __exit__(self, kind, error, trace) -> bool:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        if kind is KeyboardInterrupt:
            self.signal = self.signal or signal.SIGINT
            return True
        return False


@dataclass
class Sinks:
    """The outputs of one source's frames; None where not requested."""

    jsonl: Optional[JsonlSink]
    video: Optional[VideoSink]
    images: Optional[ImageFolderSink]
    window: Optional[WindowSink]
    timeline: Optional[ExpertTimeline]
    annotator: Optional[FrameAnnotator]

    def write(self, result) -> bool:
        """Writes one frame's result everywhere; False once the user closed the window."""
        if self.jsonl:
            self.jsonl.write(result)
        if self.timeline:
            self.timeline.write(result)
        if self.annotator:
            frame = self.annotator.annotate(result)
            if self.video:
                self.video.write(frame)
            if self.images:
                self.images.write(frame, result.source, result.frame_index)
            if self.window and not self.window.write(frame):
                return False
        return True

    def close(self) -> None:
        for sink in (self.jsonl, self.video, self.images, self.window):
            if sink is not None:
                sink.close()

    def files(self, plot_path, title: str) -> dict[str, Path]:
        """kind -> path of what was written (the expert plot is drawn now)."""
        files: dict[str, Path] = {}
        if self.jsonl:
            files["jsonl"] = self.jsonl.path
        if self.video is not None and self.video.count:
            files["video"] = self.video.path
        if self.images is not None and self.images.count:
            files["images"] = self.images.folder
        if self.timeline and self.timeline.count:
            files["plot"] = self.timeline.save_png(plot_path, title=title)
        return files


def _open_sinks(detector: BundleRunner, source: Source, log_path, video_path, plot_path, summary_path, show: bool, strip: bool,
                title: str = "edge-moe") -> Sinks:
    """Checks every output path, then opens the sinks."""
    image_dir = None
    if video_path is not None and is_folder(video_path):
        if isinstance(source, ImageSource):
            image_dir, video_path = Path(video_path), None
        else:
            video_path = Path(video_path) / f"{Path(source.description).stem if not source.live else 'stream'}.mp4"
    check_outputs({"--log": _path(log_path), "--save": _path(video_path or image_dir), "--plot": _path(plot_path),
                   "--summary-json": _path(summary_path)}, source, detector.bundle.root, folders=("--save",) if image_dir else ())
    video = VideoSink(video_path, getattr(source, "fps", 0.0) or 30.0) if video_path else None
    try:
        images = ImageFolderSink(image_dir) if image_dir else None
        window = WindowSink(title) if show else None
        jsonl = JsonlSink(log_path) if log_path else None
    except BaseException:
        if video is not None:
            video.close()
        raise
    timeline = ExpertTimeline(detector.layers) if plot_path and detector.layers else None
    annotator = FrameAnnotator(detector.layers, strip=strip) if (video or images or window) else None
    return Sinks(jsonl, video, images, window, timeline, annotator)


def _path(value: Optional[Union[str, Path]]) -> Optional[Path]:
    return None if value is None else Path(value)


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
