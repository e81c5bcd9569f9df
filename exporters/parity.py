"""Parity of exported bundles: PyTorch eval vs ONNX Runtime, sparse vs dense, FP16 vs FP32."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch

from edge_moe.exporters.uint8_input import as_uint8_frames
from edge_moe.runtime.bundle import Bundle
from edge_moe.runtime.plan import PlanExecutor, PlanResult

# FP32 tolerance for scores and for boxes in units of the input size (pixels / imgsz): box
# coordinates of a few hundred pixels carry float32 rounding of ~3e-5 px per operation, so an absolute
# pixel tolerance would measure the coordinate's magnitude, not the lowering.
FP32_TOLERANCE = 1e-4


def parity_images(count: int, imgsz: int, seed: int = 0) -> np.ndarray:
    """(N, 3, H, W) float32 in [0, 1]: smooth random colour fields plus noise, deterministic."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((count, 3, 4, 4), dtype=np.float32)
    smooth = np.repeat(np.repeat(coarse, imgsz // 4, axis=2), imgsz // 4, axis=3)  # (N, 3, H, W)
    noise = rng.random((count, 3, imgsz, imgsz), dtype=np.float32)
    return np.clip(0.7 * smooth + 0.3 * noise, 0.0, 1.0).astype(np.float32)


def torch_reference(model: torch.nn.Module, images: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """boxes (N, A, 4), scores (N, A, nc) and ids per layer (N, K) from PyTorch eval."""
    with torch.no_grad():
        outputs, routings = model.eval()(torch.from_numpy(images))
        boxes, scores = model.decode(outputs)
    return boxes.numpy(), scores.numpy(), {r.layer: r.ids.numpy() for r in routings}


def run_bundle(bundle: Bundle, images: np.ndarray, precision: str = "fp32") -> list[PlanResult]:
    from edge_moe.runtime.backends.select import open_backend

    with PlanExecutor(bundle, open_backend(bundle, "onnxruntime", precision=precision)) as executor:
        if executor.input.dtype == np.uint8:  # the bundle normalises in-graph: give it the frames
            images = as_uint8_frames(images)
        return [executor(images[i : i + 1]) for i in range(len(images))]


def compare(reference: tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]], results: list[PlanResult], imgsz: int) -> dict[str, Any]:
    """Max abs differences of boxes (pixels, and in units of ``imgsz``) and scores, and the routing
    agreement (fraction of equal id rows)."""
    boxes, scores, ids = reference
    box_diff = max(float(np.abs(r.boxes[0] - boxes[i]).max()) for i, r in enumerate(results))
    score_diff = max(float(np.abs(r.scores[0] - scores[i]).max()) for i, r in enumerate(results))
    agree, total = 0, 0
    for i, result in enumerate(results):
        for routing in result.routing:
            total += 1
            agree += int(np.array_equal(routing.ids, ids[routing.layer][i]))
    return {
        "boxes_max_abs_diff": box_diff,
        "boxes_max_norm_diff": box_diff / imgsz,
        "scores_max_abs_diff": score_diff,
        "routing_agreement": agree / total if total else 1.0,
        "routing_ids_identical": agree == total,
    }


def as_reference(results: list[PlanResult]) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    boxes = np.concatenate([r.boxes for r in results])
    scores = np.concatenate([r.scores for r in results])
    layers = [routing.layer for routing in results[0].routing] if results else []
    ids = {layer: np.stack([next(x.ids for x in r.routing if x.layer == layer) for r in results]) for layer in layers}
    return boxes, scores, ids


def check_parity(
    model: torch.nn.Module, bundle: Bundle, other: Optional[Bundle], images: np.ndarray, fp16: bool = True
) -> dict[str, Any]:
    """All parity figures of an export; ``other`` is the bundle of the other lowering (or None)."""
    imgsz = images.shape[-1]
    reference = torch_reference(model, images)
    results = run_bundle(bundle, images)
    report: dict[str, Any] = {"images": int(len(images)), bundle.routing: compare(reference, results, imgsz)}
    if other is not None:
        other_results = run_bundle(other, images)
        report[other.routing] = compare(reference, other_results, imgsz)
        report["sparse_vs_dense"] = compare(as_reference(results), other_results, imgsz)
    if fp16:
        report["fp16_onnxruntime_cpu"] = compare(as_reference(results), run_bundle(bundle, images, "fp16"), imgsz)
    return report


def parity_failures(report: dict[str, Any], tolerance: float = FP32_TOLERANCE) -> list[str]:
    """Human-readable reasons the FP32 parity figures fail (empty when they pass)."""
    failures = []
    for key in ("sparse", "dense", "sparse_vs_dense"):
        if key not in report:
            continue
        figures = report[key]
        for field in ("boxes_max_norm_diff", "scores_max_abs_diff"):
            if figures[field] > tolerance:
                failures.append(f"{key}: {field} = {figures[field]:.3g} > {tolerance:g}")
        if not figures["routing_ids_identical"]:
            failures.append(f"{key}: routing ids differ (agreement {figures['routing_agreement']:.1%})")
    return failures

