"""Validation: hard top-K (``model.eval()``, only the K selected experts run), NMS, pycocotools metrics,
ms per image and expert usage per MoE layer, overall and per scene regime."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from edge_moe.data.loader import EvalDataset, collate_eval
from edge_moe.data.samples import SampleSource
from edge_moe.metrics.coco import ImagePrediction, ImageTruth, coco_metrics
from edge_moe.metrics.routing import LayerUsage, health_warnings, specialisation
from edge_moe.runtime.postprocess import select
from edge_moe.runtime.preprocess import Letterbox
from edge_moe.trainers.distributed import World, gather_to_main


@dataclass
class EvalResult:
    metrics: dict[str, float]  # map50_95, map50, ar100, ... plus ms_per_image and images
    by_regime: dict[str, dict[str, float]] = field(default_factory=dict)
    usage: list[LayerUsage] = field(default_factory=list)
    usage_by_regime: dict[str, list[LayerUsage]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the metrics at top level, then regimes, expert usage and routing warnings."""
        return {
            **{k: round(v, 5) if isinstance(v, float) else v for k, v in self.metrics.items()},
            "by_regime": {r: {k: round(v, 5) for k, v in m.items()} for r, m in self.by_regime.items()},
            "expert_usage": [u.summary() for u in self.usage],
            "expert_usage_by_regime": {r: [u.summary() for u in us] for r, us in self.usage_by_regime.items()},
            "specialisation": specialisation(self.usage_by_regime),
            "routing_warnings": self.warnings,
        }


def postprocess(boxes: np.ndarray, scores: np.ndarray, conf: float, iou: float, max_det: int, max_candidates: int = 3000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image: boxes (A, 4), scores (A, C) -> kept boxes (D, 4), scores (D,), classes (D,); the runtime's NMS."""
    return select(boxes, scores, conf, iou, max_det, max_candidates)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    source: SampleSource,
    imgsz: int,
    batch: int = 16,
    device: str = "cpu",
    conf: float = 0.001,
    iou: float = 0.7,
    max_det: int = 300,
    workers: int = 0,
    progress: bool = True,
    world: World = World(),
) -> Optional[EvalResult]:
    """Scores ``model`` on ``source``; the model runs in eval mode (hard top-K, BN running statistics).

    In a distributed run every rank calls it and predicts every ``world.size``-th image; rank 0 gathers the predictions
    and routing of all ranks and runs one COCO evaluation over the whole set (the other ranks get None).
    """
    from tqdm import tqdm

    was_training = model.training
    model.eval()
    dataset = EvalDataset(source, imgsz)
    if world.distributed:
        dataset = Subset(dataset, range(world.rank, len(source), world.size))  # items keep their index in source
    loader = DataLoader(dataset, batch_size=batch, shuffle=False, num_workers=workers, collate_fn=collate_eval)
    truths: list[ImageTruth] = [None] * len(source)  # type: ignore[list-item]
    predictions: list[ImagePrediction] = [None] * len(source)  # type: ignore[list-item]
    ids: dict[str, list[np.ndarray]] = {}
    probs: dict[str, list[np.ndarray]] = {}
    order: list[int] = []
    seconds = 0.0
    for images, indices, ratios, pads, shapes in tqdm(loader, desc="val", leave=False, disable=not progress):
        start = time.perf_counter()
        x = images.to(device, non_blocking=True).float() / 255.0  # (B, 3, S, S)
        outputs, routings = model(x)
        boxes, scores = model.decode(outputs)  # (B, A, 4), (B, A, C)
        boxes, scores = boxes.float().cpu().numpy(), scores.float().cpu().numpy()
        kept = [postprocess(boxes[b], scores[b], conf, iou, max_det) for b in range(len(indices))]
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds += time.perf_counter() - start
        for routing in routings:
            ids.setdefault(routing.layer, []).append(routing.ids.cpu().numpy())
            probs.setdefault(routing.layer, []).append(routing.probs.float().cpu().numpy())
        for b, index in enumerate(indices):
            (h, w), ratio, (px, py) = shapes[b], ratios[b], pads[b]
            box, score, cls = kept[b]
            predictions[index] = ImagePrediction(Letterbox(float(ratio), float(px), float(py), int(h), int(w)).to_frame(box), score, cls)
            labels = source.labels[index]
            truths[index] = ImageTruth(w, h, labels.classes, labels.boxes * np.array([w, h, w, h], np.float32))
            order.append(index)
    model.train(was_training)
    if world.distributed:
        shares = gather_to_main((predictions, truths, ids, probs, order, seconds), world)
        if not world.is_main:
            return None
        predictions, truths, ids, probs, order, seconds = _merged(shares)

    position = np.argsort(order)  # routing rows are in loader order; map them back to sample order
    usage = [LayerUsage(layer, np.concatenate(ids[layer])[position], np.concatenate(probs[layer])[position]) for layer in ids]
    regimes = source.regimes
    subsets = {}
    if regimes is not None:
        for name in sorted(set(regimes)):
            subsets[name] = [i for i, r in enumerate(regimes) if r == name]
    scored = coco_metrics(truths, predictions, len(source.names), subsets)
    metrics = dict(scored["all"])
    metrics["ms_per_image"] = 1000.0 * seconds / max(len(source), 1)
    metrics["images"] = len(source)
    usage_by_regime = {name: [LayerUsage(u.layer, u.ids[idx], u.probs[idx]) for u in usage] for name, idx in subsets.items()}
    return EvalResult(
        metrics=metrics,
        by_regime={name: scored[name] for name in subsets},
        usage=usage,
        usage_by_regime=usage_by_regime,
        warnings=health_warnings(usage),
    )


def _merged(shares: list[tuple]) -> tuple:
    """The ranks' (predictions, truths, ids, probs, order, seconds) as one rank's over the whole set."""
    predictions, truths = list(shares[0][0]), list(shares[0][1])
    ids: dict[str, list[np.ndarray]] = {}
    probs: dict[str, list[np.ndarray]] = {}
    order: list[int] = []
    for share_predictions, share_truths, share_ids, share_probs, share_order, _ in shares:
        for index in share_order:
            predictions[index], truths[index] = share_predictions[index], share_truths[index]
        for layer in share_ids:
            ids.setdefault(layer, []).extend(share_ids[layer])
            probs.setdefault(layer, []).extend(share_probs[layer])
        order.extend(share_order)
    return predictions, truths, ids, probs, order, sum(share[5] for share in shares)


def format_result(result: EvalResult, title: Optional[str] = None) -> str:
    """Human-readable metrics table with expert usage (what ``edge-moe val`` and ``train`` print)."""
    from edge_moe.metrics.routing import format_usage

    m = result.metrics
    lines = [title] if title else []
    lines.append(f"  {'':<12} {'mAP50-95':>9} {'mAP50':>7} {'AR100':>7}")
    lines.append(f"  {'all':<12} {m['map50_95']:9.4f} {m['map50']:7.4f} {m['ar100']:7.4f}   ({m['images']} images, {m['ms_per_image']:.1f} ms/image)")
    for regime, r in result.by_regime.items():
        lines.append(f"  {regime:<12} {r['map50_95']:9.4f} {r['map50']:7.4f} {r['ar100']:7.4f}")
    if result.usage:
        lines.append(format_usage(result.usage, "  expert usage (share of top-K slots):"))
        for regime, usage in result.usage_by_regime.items():
            lines.append(format_usage(usage, f"  expert usage, {regime}:"))
        spec = specialisation(result.usage_by_regime)
        if spec:
            lines.append("  specialisation (total-variation distance between regimes): " + ", ".join(f"{k}={v:.2f}" for k, v in spec.items()))
    for warning in result.warnings:
        lines.append(f"  !!! WARNING: {warning}")
    return "\n".join(lines)
