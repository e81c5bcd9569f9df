"""``edge-moe run`` with several ``--source``: one model, per-source outputs and summaries, plus the total.

    outputs = run_sources(detector, ["cam0.mp4", "rtsp://cam1/stream"], log_path="frames.jsonl", save_dir="out/")
    print(format_multi_summary(outputs.summary))   # out/cam0.mp4, out/cam1_stream.mp4; every record has "source"
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, Union

from edge_moe.errors import UserError
from edge_moe.runtime.detector import BundleRunner, SourceSpec
from edge_moe.runtime.meters import format_summary
from edge_moe.runtime.multi import MultiStream
from edge_moe.runtime.outputs import check_outputs, is_folder
from edge_moe.runtime.report import RunOutputs, Sinks, _open_sinks, _path, drive, found_text, write_json
from edge_moe.runtime.sinks import JsonlSink
from edge_moe.runtime.sources import ImageSource, SourceOptions

PathLike = Union[str, Path]


def run_sources(detector: BundleRunner, sources: Sequence[SourceSpec], *, log_path: Optional[PathLike] = None,
                save_dir: Optional[PathLike] = None, plot_path: Optional[PathLike] = None, summary_path: Optional[PathLike] = None,
                show: bool = False, max_frames: Optional[int] = None, options: SourceOptions = SourceOptions(),
                progress: bool = True, strip: bool = True) -> RunOutputs:
    """Runs ``detector`` over every source at once. ``log_path``: one JSONL for all (each record names its source);
    ``save_dir``: ``DIR/<source>.mp4`` per source (``DIR/<source>/`` for image sources); ``plot_path`` F.png:
    ``F-<source>.png`` per source; ``show``: one window per source. ``max_frames`` counts per source."""
    if save_dir is not None and not is_folder(save_dir):
        raise UserError(f"--save {save_dir}: {len(sources)} sources write one annotated video each; give a folder "
                        f"(--save DIR/ writes DIR/<source>.mp4)")
    multi = MultiStream(detector, sources, options, max_frames)  # a bad source fails here, before any output is touched
    sinks: dict[str, Sinks] = {}
    jsonl = None
    try:
        check_outputs({"--log": _path(log_path), "--summary-json": _path(summary_path)},
                      list(multi.sources.values()), detector.bundle.root)
        for name, source in multi.sources.items():
            video = None if save_dir is None else (f"{Path(save_dir) / name}/" if isinstance(source, ImageSource) else Path(save_dir) / f"{name}.mp4")
            sinks[name] = _open_sinks(detector, source, None, video, _plot_of(plot_path, name), None, show, strip, title=f"edge-moe {name}")
        jsonl = JsonlSink(log_path) if log_path else None
    except BaseException:
        for sink in sinks.values():
            sink.close()
        multi.close()
        raise
    def write(result) -> bool:
        if jsonl:
            jsonl.write(result)
        return sinks[result.source.split("/")[0]].write(result)

    try:
        stopper = drive(multi, write, (lambda: _progress_bar(len(sources))) if progress else None,
                        lambda result: f"{result.source[:20]} {result.fps:.1f} fps, {found_text(result)}")
    finally:
        for sink in [*sinks.values(), jsonl]:
            if sink is not None:
                sink.close()
    summary = multi.summary()
    summary["interrupted"] = stopper.signal is not None
    files: dict[str, Path] = {"jsonl": jsonl.path} if jsonl else {}
    for name, sink in sinks.items():
        written = sink.files(_plot_of(plot_path, name), f"expert activation, {detector.bundle.model}, {name}")
        files.update({f"{kind}:{name}": path for kind, path in written.items()})
    if summary_path:
        files["summary"] = write_json(summary_path, summary)
    return RunOutputs(summary, files, stopper.signal is not None, stopper.signal)


def format_multi_summary(summary: dict) -> str:
    """Each source's table, then the total (FPS over all frames of all sources)."""
    parts = [f"== {name}" + (f"  (ended early: {s['error']})" if s.get("error") else "") + "\n" + format_summary(s)
             for name, s in summary["sources"].items()]
    parts.append(f"== total over {len(summary['sources'])} sources\n" + format_summary(summary["total"]))
    return "\n".join(parts)


def _plot_of(plot_path: Optional[PathLike], name: str) -> Optional[Path]:
    return None if plot_path is None else Path(plot_path).with_name(f"{Path(plot_path).stem}-{name}{Path(plot_path).suffix}")


def _progress_bar(sources: int):
    from tqdm import tqdm

    return tqdm(unit="frame", desc=f"{sources} sources", leave=False, dynamic_ncols=True)
