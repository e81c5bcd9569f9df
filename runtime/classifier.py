"""``Classifier``: a classification bundle + a backend; the same single-frame, stream and push-feed API as
:class:`~edge_moe.runtime.detector.Detector` (both are :class:`BundleRunner`).

    clf = Classifier("bundle_dir", top=5)
    result = clf(image)                               # FrameResult with .classes and .experts
    print(result.classes.names[0], result.classes.score[0], [e.ids for e in result.experts])
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

from edge_moe.errors import UserError
from edge_moe.runtime.bundle import Bundle
from edge_moe.runtime.detector import BundleRunner
from edge_moe.runtime.plan import PlanResult
from edge_moe.runtime.preprocess import Prepared
from edge_moe.runtime.results import Classifications, Detections, FrameResult, Latency


class Classifier(BundleRunner):
    """Runs a ``classify`` bundle; each result carries the ``top`` classes by probability."""

    task = "classify"

    def __init__(self, model: Union[str, Path, Bundle], backend: str = "auto", top: int = 5, top_k: Optional[int] = None,
                 providers: Optional[Sequence[str]] = None, threads: int = 0, cuda_graphs: bool = False):
        if not isinstance(top, int) or top < 1:
            raise UserError(f"top must be a positive integer (classes reported per frame), got {top!r}")
        self.top = top
        super().__init__(model, backend, top_k, providers, threads, cuda_graphs)

    def finish(self, prepared: Prepared, out: PlanResult, capture_ms: float, infer_ms: float) -> FrameResult:
        t1 = time.perf_counter()
        probs = out.outputs["probs"][0]  # (num_classes,)
        best = np.argsort(-probs, kind="stable")[: self.top]
        classes = Classifications(best, probs[best], self.class_names)
        t2 = time.perf_counter()
        latency = Latency(capture_ms, prepared.preprocess_ms, infer_ms, (t2 - t1) * 1000)
        return FrameResult(prepared.index, prepared.timestamp, Detections.empty(self.class_names), self.experts_of(out), latency,
                           prepared.image, classes=classes, source=prepared.path, host_bytes=out.host_bytes)
