"""Task-aligned assignment (TOOD, Feng et al. 2021; as used by YOLOv8 and YOLO-Master).

For every ground-truth box, the anchors whose centres lie inside it are ranked by the alignment
metric ``score^alpha * IoU^beta`` (predicted score of the box's class, IoU of the predicted box);
the ``top_k`` best become positives. An anchor claimed by several boxes keeps the one it overlaps
most. Soft targets are the alignment metric normalised so that each box's best anchor gets its
best IoU.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from edge_moe.trainers.boxes import ciou


@dataclass
class Assignment:
    target_boxes: Tensor  # (B, A, 4) xyxy pixels of the assigned box (meaningful where fg)
    target_scores: Tensor  # (B, A, C) soft class targets
    fg: Tensor  # (B, A) bool, anchor is a positive


class TaskAlignedAssigner:
    def __init__(self, top_k: int = 10, alpha: float = 0.5, beta: float = 6.0, eps: float = 1e-9):
        self.top_k = top_k
        self.alpha = alpha
        self.beta = beta
        self.eps = eps

    @torch.no_grad()
    def __call__(self, pred_scores: Tensor, pred_boxes: Tensor, anchors: Tensor, gt_classes: Tensor, gt_boxes: Tensor, gt_mask: Tensor) -> Assignment:
        """pred_scores (B, A, C) in [0, 1]; pred_boxes (B, A, 4) and anchors (A, 2) in pixels;
        gt_classes (B, M) int64, gt_boxes (B, M, 4) pixels, gt_mask (B, M) bool (padding is False)."""
        batch, num_anchors, num_classes = pred_scores.shape
        if gt_boxes.shape[1] == 0:
            return Assignment(torch.zeros_like(pred_boxes), torch.zeros_like(pred_scores), torch.zeros((batch, num_anchors), dtype=torch.bool, device=pred_scores.device))
        inside = self._anchors_inside(anchors, gt_boxes) & gt_mask[..., None]  # (B, M, A)
        align, overlaps = self._alignment(pred_scores, pred_boxes, gt_classes, gt_boxes, inside)  # (B, M, A) each
        topk = self._top_candidates(align, gt_mask)  # (B, M, A)
        positive = topk & inside  # (B, M, A)
        positive = self._resolve_conflicts(positive, overlaps)
        fg = positive.any(dim=1)  # (B, A)
        gt_index = positive.float().argmax(dim=1)  # (B, A)
        target_boxes = gt_boxes.gather(1, gt_index[..., None].expand(-1, -1, 4))  # (B, A, 4)
        target_classes = gt_classes.gather(1, gt_index)  # (B, A)
        target_scores = torch.zeros_like(pred_scores)
        target_scores.scatter_(2, target_classes.clamp(min=0)[..., None], 1.0)
        target_scores *= fg[..., None]
        # Normalise: each box's best anchor gets that box's best IoU.
        align = align * positive
        best_align = align.amax(dim=2, keepdim=True)  # (B, M, 1)
        best_overlap = (overlaps * positive).amax(dim=2, keepdim=True)
        norm = (align * best_overlap / (best_align + self.eps)).amax(dim=1)  # (B, A)
        return Assignment(target_boxes, target_scores * norm[..., None], fg)

    def _anchors_inside(self, anchors: Tensor, gt_boxes: Tensor) -> Tensor:
        ax, ay = anchors[:, 0], anchors[:, 1]  # (A,)
        x1, y1, x2, y2 = (gt_boxes[..., i, None] for i in range(4))  # (B, M, 1) each
        return (ax - x1 > self.eps) & (ay - y1 > self.eps) & (x2 - ax > self.eps) & (y2 - ay > self.eps)  # (B, M, A)

    def _alignment(self, pred_scores: Tensor, pred_boxes: Tensor, gt_classes: Tensor, gt_boxes: Tensor, inside: Tensor) -> tuple[Tensor, Tensor]:
        batch, num_boxes, num_anchors = inside.shape
        overlaps = torch.zeros(inside.shape, dtype=pred_boxes.dtype, device=pred_boxes.device)
        scores = torch.zeros_like(overlaps)
        b, m, a = inside.nonzero(as_tuple=True)
        scores[b, m, a] = pred_scores[b, a, gt_classes[b, m].clamp(min=0)]
        overlaps[b, m, a] = ciou(gt_boxes[b, m], pred_boxes[b, a]).clamp(min=0).to(overlaps.dtype)
        return scores.pow(self.alpha) * overlaps.pow(self.beta), overlaps

    def _top_candidates(self, align: Tensor, gt_mask: Tensor) -> Tensor:
        k = min(self.top_k, align.shape[-1])
        index = align.topk(k, dim=-1).indices  # (B, M, k)
        chosen = torch.zeros_like(align, dtype=torch.bool).scatter_(-1, index, True)
        return chosen & gt_mask[..., None]

    @staticmethod
    def _resolve_conflicts(positive: Tensor, overlaps: Tensor) -> Tensor:
        """An anchor positive for several boxes keeps only the box it overlaps most."""
        multiple = positive.sum(dim=1, keepdim=True) > 1  # (B, 1, A)
        if not multiple.any():
            return positive
        best = overlaps.argmax(dim=1, keepdim=True)  # (B, 1, A)
        only_best = torch.zeros_like(positive).scatter_(1, best, True)
        return torch.where(multiple, only_best & positive.any(dim=1, keepdim=True), positive)
