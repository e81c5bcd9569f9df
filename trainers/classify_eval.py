"""Validation of a classifier: hard top-K (``model.eval()``), accuracy, macro-F1, per-class precision and
recall, the confusion matrix, expert usage and routing health."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from edge_moe.data.classify_loader import ClassifyDataset
from edge_moe.data.imagefolder import ImageFolder
from edge_moe.metrics.classification import classification_metrics, confusion_matrix
from edge_moe.metrics.routing import LayerUsage, format_usage, health_warnings


@dataclass
class ClassifyResult:
    metrics: dict[str, Any]  # accuracy, f1_macro, per_class, images, ms_per_image
    confusion: np.ndarray  # (C, C) rows = true class
    names: list[str]
    usage: list[LayerUsage] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            **{k: round(v, 5) if isinstance(v, float) else v for k, v in self.metrics.items()},
            "confusion_matrix": self.confusion.tolist(),
            "class_names": self.names,
            "expert_usage": [u.summary() for u in self.usage],
            "routing_warnings": self.warnings,
        }


@torch.no_grad()
def evaluate_classifier(model: nn.Module, folder: ImageFolder, imgsz: int, batch: int = 32, device: str = "cpu",
                        workers: int = 0, progress: bool = True) -> ClassifyResult:
    """Scores ``model`` on ``folder`` in eval mode (hard top-K, BN running statistics)."""
    from tqdm import tqdm

    was_training = model.training
    model.eval()
    loader = DataLoader(ClassifyDataset(folder, imgsz), batch_size=batch, shuffle=False, num_workers=workers)
    predicted, ids, probs = [], {}, {}
    seconds = 0.0
    for images, _ in tqdm(loader, desc="val", leave=False, disable=not progress):
        start = time.perf_counter()
        logits, routings = model(images.to(device).float() / 255.0)  # (B, C)
        predicted.append(logits.argmax(1).cpu().numpy())
        seconds += time.perf_counter() - start
        for routing in routings:
            ids.setdefault(routing.layer, []).append(routing.ids.cpu().numpy())
            probs.setdefault(routing.layer, []).append(routing.probs.float().cpu().numpy())
    model.train(was_training)
    matrix = confusion_matrix(folder.labels, np.concatenate(predicted), len(folder.names))
    metrics = classification_metrics(matrix, folder.names)
    metrics["images"] = len(folder)
    metrics["ms_per_image"] = 1000.0 * seconds / max(len(folder), 1)
    usage = [LayerUsage(layer, np.concatenate(ids[layer]), np.concatenate(probs[layer])) for layer in ids]
    return ClassifyResult(metrics, matrix, list(folder.names), usage, health_warnings(usage))


def format_classify_result(result: ClassifyResult, title: Optional[str] = None) -> str:
    """Human-readable metrics with per-class precision / recall and expert usage."""
    m = result.metrics
    lines = [title] if title else []
    lines.append(f"  accuracy {m['accuracy']:.4f}  macro-F1 {m['f1_macro']:.4f}   ({m['images']} images, {m['ms_per_image']:.1f} ms/image)")
    lines.append(f"  {'class':<16} {'precision':>9} {'recall':>7} {'f1':>7} {'n':>5}")
    lines += [f"  {c['class'][:16]:<16} {c['precision']:9.4f} {c['recall']:7.4f} {c['f1']:7.4f} {c['support']:5d}" for c in m["per_class"]]
    if result.usage:
        lines.append(format_usage(result.usage, "  expert usage (share of top-K slots):"))
    lines += [f"  !!! WARNING: {w}" for w in result.warnings]
    return "\n".join(lines)


def validate_checkpoint(model: nn.Module, payload: dict, weights: str, data: str, imgsz: Optional[int], batch: int, device: str,
                        routing: str, progress: bool) -> tuple[ClassifyResult, Any]:
    """``edge-moe val`` for a classification checkpoint: the result and the confusion-matrix PNG written next to it."""
    from pathlib import Path

    from edge_moe.data.imagefolder import is_image_folder, load_image_folders
    from edge_moe.errors import UserError
    from edge_moe.metrics.classification import plot_confusion_matrix
    from edge_moe.models.config import check_imgsz
    from edge_moe.moe import moe_execution

    if not is_image_folder(data):
        raise UserError(f"--data {data}: {weights} is a classification checkpoint; expected an ImageFolder directory (DIR/val/<class>/*.png) or xray-builtin")
    imgsz = imgsz or model.config.imgsz
    check_imgsz(imgsz, max(model.config.strides), "--imgsz")
    folders = load_image_folders(data, splits=("val",))
    if folders.names != list(payload["class_names"]):
        raise UserError(f"--data {data}: classes {folders.names} differ from those {weights} was trained on {payload['class_names']}")
    with moe_execution(model.to(device), routing):
        result = evaluate_classifier(model, folders.split("val"), imgsz, batch=batch, device=device, progress=progress)
    png = Path(weights).with_name(f"{Path(weights).stem}_confusion_matrix.png")
    return result, plot_confusion_matrix(result.confusion, result.names, png, f"{payload['model']} on {data}")
