"""Parity of exported bundles (any task): PyTorch eval vs ONNX Runtime, sparse vs dense, FP16 vs FP32."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch

from edge_moe.exporters.uint8_input import as_uint8_frames
from edge_moe.runtime.bundle import Bundle
from edge_moe.runtime.plan import PlanExecutor, PlanResult

# FP32 tolerance for scores, logits and probabilities, and for boxes in units of the input size (pixels / imgsz): box
# coordinates of a few hundred pixels carry float32 rounding of ~3e-5 px per operation, so an absolute
# pixel tolerance would measure the coordinate's magnitude, not the lowering.
FP32_TOLERANCE = 1e-4
DEPLOY_OUTPUTS = ("boxes", "scores", "logits", "probs")  # the deployment outputs of the model families


def parity_images(count: int, imgsz: int, seed: int = 0) -> np.ndarray:
    """(N, 3, H, W) float32 in [0, 1]: smooth random colour fields plus noise, deterministic."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((count, 3, 4, 4), dtype=np.float32)
    smooth = np.repeat(np.repeat(coarse, imgsz // 4, axis=2), imgsz // 4, axis=3)  # (N, 3, H, W)
    noise = rng.random((count, 3, imgsz, imgsz), dtype=np.float32)
    return np.clip(0.7 * smooth + 0.3 * noise, 0.0, 1.0).astype(np.float32)


Reference = tuple[dict[str, np.ndarray], dict[str, np.ndarray]]  # (deployment outputs by name, ids per layer (N, K))


def torch_reference(model: torch.nn.Module, images: np.ndarray) -> Reference:
    """The deployment outputs (a detector's boxes (N, A, 4) and scores, a classifier's logits and probs) and
    the ids per MoE layer (N, K) from PyTorch eval, through the model's own program."""
    with torch.no_grad():
        program = model.eval().program()
        env, routings = program.run(torch.from_numpy(images), deploy=True)
    return {name: env[name].numpy() for name in program.deploy_outputs}, {r.layer: r.ids.numpy() for r in routings}


def run_bundle(bundle: Bundle, images: np.ndarray, precision: str = "fp32") -> list[PlanResult]:
    from edge_moe.runtime.backends.select import open_backend

    with open_backend(bundle, "onnxruntime", precision=precision) as backend, PlanExecutor(bundle, backend) as executor:
        if executor.input.dtype == np.uint8:  # the bundle normalises in-graph: give it the frames
            images = as_uint8_frames(images)
        step = executor.batch  # a batched bundle runs its batch a call, the last call maybe short
        return [result for i in range(0, len(images), step) for result in executor.run_batch(images[i : i + step])]


def compare(reference: Reference, results: list[PlanResult], imgsz: int) -> dict[str, Any]:
    """Max abs difference of every deployment output (boxes also in units of ``imgsz``) and the routing
    agreement (fraction of equal id rows)."""
    outputs, ids = reference
    report: dict[str, Any] = {}
    for name, expected in outputs.items():
        report[f"{name}_max_abs_diff"] = max(float(np.abs(r.outputs[name][0] - expected[i]).max()) for i, r in enumerate(results))
        if name == "boxes":
            report["boxes_max_norm_diff"] = report["boxes_max_abs_diff"] / imgsz
    agree, total = 0, 0
    for i, result in enumerate(results):
        for routing in result.routing:
            total += 1
            agree += int(np.array_equal(routing.ids, ids[routing.layer][i]))
    report["routing_agreement"] = agree / total if total else 1.0
    report["routing_ids_identical"] = agree == total
    return report


def as_reference(results: list[PlanResult], names: Optional[list[str]] = None) -> Reference:
    """Bundle results as a reference; ``names`` default to the deployment outputs the results carry."""
    names = names or [name for name in DEPLOY_OUTPUTS if results and name in results[0].outputs]
    outputs = {name: np.concatenate([r.outputs[name] for r in results]) for name in names}
    layers = [routing.layer for routing in results[0].routing] if results else []
    ids = {layer: np.stack([next(x.ids for x in r.routing if x.layer == layer) for r in results]) for layer in layers}
    return outputs, ids


def check_parity(
    model: torch.nn.Module, bundle: Bundle, other: Optional[Bundle], images: np.ndarray, fp16: bool = True
) -> dict[str, Any]:
    """All parity figures of an export; ``other`` is the bundle of the other lowering (or None)."""
    imgsz = images.shape[-1]
    reference = torch_reference(model, images)
    results = run_bundle(bundle, images)
    names = list(reference[0])
    report: dict[str, Any] = {"images": int(len(images)), bundle.routing: compare(reference, results, imgsz)}
    if other is not None:
        other_results = run_bundle(other, images)
        report[other.routing] = compare(reference, other_results, imgsz)
        report["sparse_vs_dense"] = compare(as_reference(results, names), other_results, imgsz)
    if fp16:
        report["fp16_onnxruntime_cpu"] = compare(as_reference(results, names), run_bundle(bundle, images, "fp16"), imgsz)
    return report


def parity_failures(report: dict[str, Any], tolerance: float = FP32_TOLERANCE) -> list[str]:
    """Human-readable reasons the FP32 parity figures fail (empty when they pass)."""
    failures = []
    for key in ("sparse", "dense", "sparse_vs_dense"):
        if key not in report:
            continue
        figures = report[key]
        fields = [f for f in figures if f.endswith("_max_abs_diff") and f != "boxes_max_abs_diff"] + [f for f in figures if f == "boxes_max_norm_diff"]
        for field in fields:
            if figures[field] > tolerance:
                failures.append(f"{key}: {field} = {figures[field]:.3g} > {tolerance:g}")
        if not figures["routing_ids_identical"]:
            failures.append(f"{key}: routing ids differ (agreement {figures['routing_agreement']:.1%})")
    return failures

