"""``Detector`` (and, for classification bundles, ``Classifier``): a bundle + a backend, run on single
frames, on any source, or on a push feed. Both share :class:`BundleRunner` and its streams.

    det = Detector("bundle_dir", conf=0.25)
    for r in det.stream("rtsp://camera/stream"):     # FrameResult per frame
        print(r.frame_index, len(r.detections), [e.ids for e in r.experts])
    result = det(image)                               # one frame
"""
from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Optional, Sequence, Union

import numpy as np

from edge_moe.errors import UserError
from edge_moe.runtime.backends.select import choose_backend, open_backend
from edge_moe.runtime.bundle import Bundle, load_bundle
from edge_moe.runtime.call_batcher import CallBatcher
from edge_moe.runtime.fair_lock import FairLock
from edge_moe.runtime.meters import RunStats
from edge_moe.runtime.plan import PlanExecutor, PlanResult
from edge_moe.runtime.postprocess import PostprocessConfig, postprocess
from edge_moe.runtime.prefetch import Prefetcher
from edge_moe.runtime.preprocess import InputSpec, Prepared, prepare, spec_from_values
from edge_moe.runtime.results import ExpertActivation, FrameResult, Latency
from edge_moe.runtime.sources import Frame, PushSource, Source, SourceOptions, open_source

if TYPE_CHECKING:
    from edge_moe.runtime.multi import MultiStream

log = logging.getLogger("edge_moe.runtime")

SourceSpec = Union[str, int, Path, Source]


def input_spec(bundle: Bundle) -> InputSpec:
    """The letterbox and normalisation the graph was exported with (manifest ``input``)."""
    entry = bundle.input
    return spec_from_values(*entry.size, color=entry.color, scale=entry.scale, mean=entry.mean, std=entry.std,
                            pad_value=entry.pad_value, in_graph=entry.normalised_in_graph)


class BundleRunner(ABC):
    """What every task's runner shares: a bundle + a backend, single frames, streams, push feeds.

    Subclasses set ``task`` (the manifest's) and implement :meth:`infer`; a bundle of another task is
    refused with a one-line error naming it.
    """

    task = ""

    def __init__(self, model: Union[str, Path, Bundle], backend: str = "auto", top_k: Optional[int] = None,
                 providers: Optional[Sequence[str]] = None, threads: int = 0, cuda_graphs: bool = False):
        self.bundle = model if isinstance(model, Bundle) else load_bundle(model)
        task = self.bundle.task
        if task != self.task:
            raise UserError(f"{self.bundle.root}: a {task!r} bundle, but {type(self).__name__} runs {self.task!r} bundles "
                            f"(use {runner_for(task)} or `edge-moe run`, which picks by the bundle's task)")
        self.backend = choose_backend(self.bundle, backend)
        self._backend = open_backend(self.bundle, self.backend, providers, threads, cuda_graphs=cuda_graphs)
        try:
            self.executor = PlanExecutor(self.bundle, self._backend)
            if top_k is not None:
                self.executor.top_k_per_layer(top_k)  # validates K' against the exported K, with the executor's message
        except BaseException:
            self._backend.close()
            raise
        self.top_k = top_k
        self.spec = input_spec(self.bundle)
        self.class_names = self.bundle.class_names
        self.layers = [(layer.name, layer.experts) for layer in self.bundle.moe_layers]
        self._streams: set["Stream"] = set()
        self._lock = threading.Lock()
        self._infer_lock = FairLock()  # one inference at a time (the backend owns one set of buffers), streams take turns
        self._calls = CallBatcher(self.infer_batch, self.executor.batch, self._infer_lock)  # streams' frames share calls
        self.warmup()

    def close(self) -> None:
        """Stops running streams and frees the backend's memory now (device buffers, sessions, stream)."""
        self.stop()
        self.executor.close()
        self._backend.close()

    def __enter__(self) -> "Detector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def warmup(self, runs: int = 2) -> None:
        """First runs allocate and tune kernels; keep them out of the measured frames."""
        x = np.zeros(self.executor.input.shape, self.executor.input.dtype)  # a full batch
        for _ in range(runs):
            self.executor.run_batch(x, self.top_k)
        self._backend.warmed_up()

    # single frames -------------------------------------------------------------------------
    def prepare(self, frame: Frame) -> Prepared:
        start = time.perf_counter()
        tensor, box, image = prepare(frame.image, self.spec)
        return Prepared(tensor, box, image, (time.perf_counter() - start) * 1000, frame.index, frame.timestamp, frame.path)

    def prepare_or_skip(self, frame: Frame) -> Optional[Prepared]:
        """``prepare`` for streams: a frame that is not an image is logged and skipped, not fatal."""
        try:
            return self.prepare(frame)
        except ValueError as error:
            log.warning("frame %d skipped: %s", frame.index, error)
            return None

    def infer(self, prepared: Prepared, capture_ms: float = 0.0) -> FrameResult:
        """Inference + postprocess of an already prepared frame."""
        return self.infer_batch([prepared], capture_ms)[0]

    def infer_batch(self, prepared: Sequence[Prepared], capture_ms: Union[float, Sequence[float]] = 0.0) -> list[FrameResult]:
        """Inference + postprocess of prepared frames, up to the bundle's batch per call (``export --batch``);
        each frame's inference time is its share of its call's. ``capture_ms``: one for all, or one per frame."""
        captures = [capture_ms] * len(prepared) if isinstance(capture_ms, (int, float)) else list(capture_ms)
        results = []
        for start in range(0, len(prepared), self.executor.batch):
            chunk = prepared[start : start + self.executor.batch]
            t0 = time.perf_counter()
            outs = self.executor.run_batch(np.concatenate([p.tensor for p in chunk]), self.top_k)
            infer_ms = (time.perf_counter() - t0) * 1000 / len(chunk)
            results += [self.finish(p, out, capture, infer_ms) for p, out, capture in zip(chunk, outs, captures[start:])]
        return results

    @abstractmethod
    def finish(self, prepared: Prepared, out: PlanResult, capture_ms: float, infer_ms: float) -> FrameResult:
        """A frame's result from its plan output (each task's own postprocess)."""

    def experts_of(self, out: PlanResult) -> list[ExpertActivation]:
        """The experts each MoE layer ran for the frame, with their renormalised weights."""
        return [ExpertActivation(r.layer, r.ids, r.weights) for r in out.routing]

    def __call__(self, image: Union[np.ndarray, Sequence[np.ndarray]]) -> Union[FrameResult, list[FrameResult]]:
        """The result (detections or classes) and expert activation for one image (H, W[, C]) uint8, BGR or gray;
        for a list of images, one result each (run ``export --batch B`` bundles B at a time)."""
        images = image if isinstance(image, (list, tuple)) else [image]
        try:
            prepared = [self.prepare(Frame(one, index, time.time())) for index, one in enumerate(images)]
        except ValueError as error:
            raise UserError(str(error)) from None
        with self._infer_lock:
            results = self.infer_batch(prepared)
        return results if isinstance(image, (list, tuple)) else results[0]

    # streams -------------------------------------------------------------------------------
    def stream(self, source: Union[SourceSpec, Sequence[SourceSpec]], options: SourceOptions = SourceOptions(),
               max_frames: Optional[int] = None, prefetch: int = 4) -> Union["Stream", "MultiStream"]:
        """An iterable of FrameResult over ``source`` (see :func:`open_source` for what it accepts); a list of sources
        gives a :class:`~edge_moe.runtime.multi.MultiStream` over all of them (``max_frames`` per source)."""
        if isinstance(source, (list, tuple)):
            from edge_moe.runtime.multi import MultiStream

            return MultiStream(self, source, options, max_frames, prefetch)
        return Stream(self, source, options, max_frames, prefetch)

    def start(self, source: SourceSpec, on_result: Callable[[FrameResult], None], **stream_kwargs) -> "StreamHandle":
        """Runs ``stream(source)`` in a background thread, calling ``on_result`` for every frame.

        The push form: ``feed = PushSource(); handle = det.start(feed, on_result); sdk.on_frame(feed.push)``.
        """
        return StreamHandle(self.stream(source, **stream_kwargs), on_result)

    def stop(self) -> None:
        """Stops every running stream of this runner (safe from any thread or a signal handler)."""
        with self._lock:
            streams = list(self._streams)
        for s in streams:
            s.stop()


class Detector(BundleRunner):
    """Runs a detection bundle with a backend chosen by name (``auto`` prefers matching TensorRT engines)."""

    task = "detect"

    def __init__(self, model: Union[str, Path, Bundle], backend: str = "auto", conf: float = 0.25, iou: float = 0.45,
                 top_k: Optional[int] = None, max_det: int = 300, providers: Optional[Sequence[str]] = None,
                 threads: int = 0, classes: Optional[Sequence[int]] = None, cuda_graphs: bool = False):
        try:
            self.post = PostprocessConfig(conf=conf, iou=iou, max_det=max_det, classes=None if classes is None else tuple(classes))
        except ValueError as error:
            raise UserError(str(error)) from None
        super().__init__(model, backend, top_k, providers, threads, cuda_graphs)

    def finish(self, prepared: Prepared, out: PlanResult, capture_ms: float, infer_ms: float) -> FrameResult:
        t1 = time.perf_counter()
        detections = postprocess(out.boxes, out.scores, prepared.letterbox, self.post, self.class_names)
        experts = self.experts_of(out)
        t2 = time.perf_counter()
        latency = Latency(capture_ms, prepared.preprocess_ms, infer_ms, (t2 - t1) * 1000)
        return FrameResult(prepared.index, prepared.timestamp, detections, experts, latency, prepared.image, source=prepared.path,
                           host_bytes=out.host_bytes)


def runner_for(task: str) -> str:
    """The Python class that runs bundles of ``task`` (for messages)."""
    return {"detect": "Detector", "classify": "Classifier"}.get(task, "a runner for that task")


def open_runner(model: Union[str, Path, Bundle], backend: str = "auto", top_k: Optional[int] = None,
                providers: Optional[Sequence[str]] = None, threads: int = 0, conf: float = 0.25, iou: float = 0.45,
                top: int = 5, max_det: int = 300, classes: Optional[Sequence[int]] = None, cuda_graphs: bool = False) -> BundleRunner:
    """The runner of the bundle's task: a :class:`Detector` (``conf``, ``iou``, ``max_det``, ``classes``) or a
    :class:`~edge_moe.runtime.classifier.Classifier` (``top`` classes per frame)."""
    from edge_moe.runtime.classifier import Classifier

    bundle = model if isinstance(model, Bundle) else load_bundle(model)
    task = bundle.task
    if task == "detect":
        return Detector(bundle, backend, conf, iou, top_k, max_det, providers, threads, classes, cuda_graphs)
    if task == "classify":
        return Classifier(bundle, backend, top, top_k, providers, threads, cuda_graphs)
    raise UserError(f"{bundle.root}: task {task!r} has no runner (expected 'detect' or 'classify')")


class Stream:
    """One pass over a source. Iterate it for FrameResults; ``stats``/``summary()`` hold the figures."""

    def __init__(self, detector: BundleRunner, source: SourceSpec, options: SourceOptions, max_frames: Optional[int], prefetch: int):
        if max_frames is not None and max_frames < 1:
            raise UserError(f"max_frames must be >= 1, got {max_frames}")
        self.detector = detector
        self.source_spec = source
        self.options = options
        self.max_frames = max_frames
        self.prefetch = prefetch
        self.stats = RunStats(detector.layers)
        self.source: Optional[Source] = None
        self.stop_event = threading.Event()
        self.error: Optional[str] = None

    def stop(self) -> None:
        self.stop_event.set()
        if self.source is not None and self.source.live:
            self.source.close()  # wakes a read blocked on a live source; files stop at the next frame

    def summary(self) -> dict:
        source_stats = self.source.stats() if self.source is not None else {}
        summary = self.stats.summary(source_stats)
        summary["backend"] = self.detector.backend
        summary["error"] = self.error
        return summary

    def __iter__(self) -> Iterator[FrameResult]:
        det = self.detector
        self.source = open_source(self.source_spec, self.options)
        with det._lock:
            det._streams.add(self)
        batch = det.executor.batch
        prefetcher = None if self.source.live else Prefetcher(self.source, det.prepare_or_skip, max(self.prefetch, batch))
        count = 0
        try:
            while not self.stop_event.is_set() and (self.max_frames is None or count < self.max_frames):
                t0 = time.perf_counter()
                if prefetcher is not None:  # files: decoded and preprocessed ahead, in order; a batched bundle's batch a call
                    wanted = batch if self.max_frames is None else min(batch, self.max_frames - count)
                    prepared = prefetcher.take(wanted)
                    if not prepared:
                        break
                    waited_ms = (time.perf_counter() - t0) * 1000 / len(prepared)
                    with det._infer_lock:
                        results = det.infer_batch(prepared, waited_ms)
                else:  # live: the newest frame, preprocessed now so it is as fresh as possible
                    frame = self.source.read()
                    if frame is None:
                        break
                    one = det.prepare_or_skip(frame)
                    if one is None:
                        continue
                    waited_ms = (time.perf_counter() - t0) * 1000 - one.preprocess_ms
                    results = [det._calls.infer(one, max(waited_ms, 0.0))]  # shares a call with other sources' frames
                for result in results:
                    self.stats.add(result)
                    count += 1
                    yield result
        finally:
            if prefetcher is not None:
                prefetcher.close()
            self.source.close()
            self.error = getattr(self.source, "error", None)
            with det._lock:
                det._streams.discard(self)


class StreamHandle:
    """A stream running in a background thread with a per-result callback."""

    def __init__(self, stream: Stream, on_result: Callable[[FrameResult], None]):
        self.stream = stream
        self.on_result = on_result
        self.exception: Optional[BaseException] = None
        self.thread = threading.Thread(target=self._run, name="edge-moe stream", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for result in self.stream:
                self.on_result(result)
        except BaseException as error:  # re-raised by join()
            self.exception = error

    def stop(self) -> None:
        self.stream.stop()

    def join(self, timeout: Optional[float] = None) -> dict:
        """Waits for the end of the stream; returns its summary (raises what the stream raised)."""
        self.thread.join(timeout)
        if self.exception is not None:
            raise self.exception
        return self.stream.summary()

    @property
    def running(self) -> bool:
        return self.thread.is_alive()


__all__ = ["Detector", "PushSource", "Stream", "StreamHandle"]
