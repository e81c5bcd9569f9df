"""Box geometry in torch: pairwise IoU, CIoU (Zheng et al. 2020) and class-aware greedy NMS."""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor


def box_area(boxes: Tensor) -> Tensor:
    return (boxes[..., 2] - boxes[..., 0]).clamp(min=0) * (boxes[..., 3] - boxes[..., 1]).clamp(min=0)


def pairwise_iou(a: Tensor, b: Tensor, eps: float = 1e-9) -> Tensor:
    """IoU of every box in ``a`` (N, 4) with every box in ``b`` (M, 4) -> (N, M); xyxy."""
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=-1)
    return inter / (box_area(a)[:, None] + box_area(b)[None, :] - inter + eps)


def ciou(a: Tensor, b: Tensor, eps: float = 1e-7) -> Tensor:
    """Complete IoU of matching boxes (..., 4) xyxy: IoU - centre distance^2 / diagonal^2 - alpha * v."""
    w1, h1 = a[..., 2] - a[..., 0], (a[..., 3] - a[..., 1]).clamp(min=eps)
    w2, h2 = b[..., 2] - b[..., 0], (b[..., 3] - b[..., 1]).clamp(min=eps)
    inter = (torch.minimum(a[..., 2], b[..., 2]) - torch.maximum(a[..., 0], b[..., 0])).clamp(min=0) * (
        torch.minimum(a[..., 3], b[..., 3]) - torch.maximum(a[..., 1], b[..., 1])
    ).clamp(min=0)
    union = w1 * h1 + w2 * h2 - inter + eps
    iou = inter / union
    cw = torch.maximum(a[..., 2], b[..., 2]) - torch.minimum(a[..., 0], b[..., 0])  # enclosing box
    ch = torch.maximum(a[..., 3], b[..., 3]) - torch.minimum(a[..., 1], b[..., 1])
    diagonal = cw**2 + ch**2 + eps
    centre = ((b[..., 0] + b[..., 2] - a[..., 0] - a[..., 2]) ** 2 + (b[..., 1] + b[..., 3] - a[..., 1] - a[..., 3]) ** 2) / 4
    v = (4 / math.pi**2) * (torch.atan(w2 / h2) - torch.atan(w1 / h1)).pow(2)
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - (centre / diagonal + v * alpha)


def nms(boxes: Tensor, scores: Tensor, classes: Tensor, iou_threshold: float, max_det: int) -> Tensor:
    """Greedy per-class NMS; returns kept indices sorted by score (at most ``max_det``).

    Each round keeps the best remaining box and drops the remaining boxes that overlap it, so the
    cost grows with the number of kept boxes, not with the square of the candidates.
    """
    if boxes.numel() == 0:
        return torch.zeros((0,), dtype=torch.int64, device=boxes.device)
    order = scores.argsort(descending=True).cpu().numpy()
    # Offsetting boxes by class keeps different classes from suppressing each other.
    shifted = (boxes + classes[:, None].to(boxes.dtype) * (boxes.max() + 1)).detach().cpu().double().numpy()
    x1, y1, x2, y2 = shifted.T
    area = (x2 - x1).clip(min=0) * (y2 - y1).clip(min=0)
    keep: list[int] = []
    while order.size and len(keep) < max_det:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        w = (np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest])).clip(min=0)
        h = (np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest])).clip(min=0)
        inter = w * h
        iou = inter / (area[best] + area[rest] - inter + 1e-9)
        order = rest[iou <= iou_threshold]
    return torch.tensor(keep, dtype=torch.int64, device=boxes.device)
