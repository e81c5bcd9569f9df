"""Several sources on one model: ``det.stream(["cam0.mp4", "rtsp://cam1/stream"])``, ``edge-moe run --source A --source B``.

Each source runs its own :class:`~edge_moe.runtime.detector.Stream` in its own thread (its reader thread, latest-frame
policy and reconnects stay as they are), so a dead or slow source never stalls the others. The runner executes one
call at a time (the backend owns one set of buffers). With a batched bundle the live sources' frames waiting when a
call starts share it (:mod:`edge_moe.runtime.call_batcher`) and a file source runs a batch of its own frames a call;
a batch-1 bundle runs one frame per call.
"""
from __future__ import annotations

import queue
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional, Sequence

from edge_moe.errors import UserError
from edge_moe.runtime.meters import RunStats
from edge_moe.runtime.outputs import source_files
from edge_moe.runtime.results import FrameResult
from edge_moe.runtime.sources import ImageSource, Source, SourceOptions, open_source

if TYPE_CHECKING:
    from edge_moe.runtime.detector import BundleRunner, SourceSpec


def source_name(source: Source) -> str:
    """A file-name-safe name for a source: a file's stem, a stream's host and path, ``camera0``..."""
    files = source_files(source)
    if len(files) == 1 and not isinstance(source, ImageSource):
        text = files[0].stem
    else:
        text = re.sub(r"^[a-z0-9]+://", "", source.description.split("?")[0].strip())
        text = Path(text).name if isinstance(source, ImageSource) else text
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "source"


def unique_names(sources: Sequence[Source], specs: Sequence) -> list[str]:
    """One name per source (``-2``, ``-3`` after repeats); two sources reading the same file or URL are an error."""
    names: list[str] = []
    seen: dict[object, str] = {}
    for source, spec in zip(sources, specs):
        key = tuple(source_files(source)) or source.description
        if key in seen:
            raise UserError(f"--source {spec}: names the same {'file' if source_files(source) else 'stream'} as --source {seen[key]} "
                            f"(give each source once)")
        seen[key] = str(spec)
        base = name = source_name(source)
        number = 2
        while name in names:
            name, number = f"{base}-{number}", number + 1
        names.append(name)
    return names


def open_sources(specs: Sequence["SourceSpec"], options: SourceOptions) -> tuple[list[Source], list[str]]:
    """Opens every source (one that cannot open is a one-line error, the others are closed) and names them."""
    opened: list[Source] = []
    try:
        for spec in specs:
            opened.append(open_source(spec, options))
        return opened, unique_names(opened, specs)
    except BaseException:
        for source in opened:
            source.close()
        raise


class MultiStream:
    """N sources, one runner. Iterate it for FrameResults as they finish (each with ``source`` set to its source's
    name, ``name/file`` for image sources); ``streams`` holds each source's Stream and stats, ``total`` all frames."""

    def __init__(self, runner: "BundleRunner", sources: Sequence["SourceSpec"], options: SourceOptions = SourceOptions(),
                 max_frames: Optional[int] = None, prefetch: int = 4):
        if not sources:
            raise UserError("no sources given (expected one or more)")
        opened, self.names = open_sources(sources, options)
        self.runner = runner
        self.sources = dict(zip(self.names, opened))
        try:
            self.streams = {name: runner.stream(source, options, max_frames, prefetch) for name, source in self.sources.items()}
        except BaseException:
            self.close()
            raise
        self.total = RunStats(runner.layers)

    def stop(self) -> None:
        for stream in self.streams.values():
            stream.stop()

    def close(self) -> None:
        """Closes every source (what iterating does at the end; for a MultiStream given up before it ran)."""
        for source in self.sources.values():
            source.close()

    def summary(self) -> dict:
        """Per source (FPS, latency split, expert usage, source counters, error) and the total over all frames."""
        total = self.total.summary()
        total["backend"] = self.runner.backend
        return {"sources": {name: stream.summary() for name, stream in self.streams.items()}, "total": total}

    def __iter__(self) -> Iterator[FrameResult]:
        results: queue.Queue = queue.Queue(maxsize=2 * len(self.streams))
        finished = object()
        pumps = [threading.Thread(target=self._pump, args=(name, stream, results, finished), name=f"edge-moe source {name}",
                                  daemon=True) for name, stream in self.streams.items()]
        for pump in pumps:
            pump.start()
        running = len(pumps)
        try:
            while running:
                item = results.get()
                if item is finished:
                    running -= 1
                elif isinstance(item, BaseException):
                    raise item
                else:
                    fps = item.fps  # the source's own FPS stays on the record
                    self.total.add(item)
                    item.fps = fps
                    yield item
        finally:
            self.stop()
            while any(pump.is_alive() for pump in pumps):  # a pump blocked on a full queue needs it drained to stop
                try:
                    results.get(timeout=0.05)
                except queue.Empty:
                    pass

    @staticmethod
    def _pump(name: str, stream, results: queue.Queue, finished: object) -> None:
        try:
            for result in stream:
                result.source = name if result.source is None else f"{name}/{Path(result.source).name}"
                results.put(result)
        except BaseException as error:  # raised in the consuming thread
            stream.stop()
            results.put(error)
        finally:
            results.put(finished)
