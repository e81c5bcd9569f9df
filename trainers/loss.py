"""Detection loss: BCE classification, CIoU box regression, optional DFL, plus the MoE balance loss.

Same gains as YOLOv8 (box 7.5, cls 0.5, dfl 1.5); each term is normalised by the sum of the soft
targets. The total is multiplied by the batch size like Ultralytics does, so SGD's usual lr0=0.01
applies. The MoE auxiliary loss (``edge_moe.moe.moe_aux_loss``, averaged over MoE layers) joins
with coefficient ``moe_coef`` on the same per-image scale.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from edge_moe.models.head import distances_from_raw, distances_to_xyxy, make_anchors, split_outputs
from edge_moe.moe import MoELossWeights, Routing, moe_aux_loss
from edge_moe.trainers.assigner import TaskAlignedAssigner
from edge_moe.trainers.boxes import ciou
from edge_moe.trainers.distributed import ranks, sum_over_ranks


@dataclass(frozen=True)
class LossGains:
    box: float = 7.5
    cls: float = 0.5
    dfl: float = 1.5
    moe: float = 0.2  # YOLO-Master uses 0.15-0.3; too low lets routing collapse


def dfl_loss(pred_dist: Tensor, target: Tensor) -> Tensor:
    """Distribution focal loss (GFL): cross-entropy to the two bins around a continuous target.

    pred_dist (N, 4, reg_max) logits, target (N, 4) in [0, reg_max - 1) -> (N,) mean over the 4 sides.
    """
    left = target.long()
    right = left + 1
    weight_left = right.float() - target
    weight_right = 1 - weight_left
    logits = pred_dist.flatten(0, 1)  # (N*4, reg_max)
    loss = F.cross_entropy(logits, left.flatten(), reduction="none") * weight_left.flatten()
    loss = loss + F.cross_entropy(logits, right.flatten(), reduction="none") * weight_right.flatten()
    return loss.view(-1, 4).mean(dim=-1)


def pad_targets(targets: Tensor, batch: int) -> tuple[Tensor, Tensor, Tensor]:
    """(M, 6) [image, class, x1, y1, x2, y2] -> classes (B, Mmax), boxes (B, Mmax, 4), mask (B, Mmax)."""
    counts = torch.bincount(targets[:, 0].long(), minlength=batch) if len(targets) else torch.zeros(batch, dtype=torch.long)
    most = int(counts.max()) if batch else 0
    classes = torch.zeros((batch, most), dtype=torch.long, device=targets.device)
    boxes = torch.zeros((batch, most, 4), device=targets.device)
    mask = torch.zeros((batch, most), dtype=torch.bool, device=targets.device)
    for b in range(batch):
        rows = targets[targets[:, 0] == b]
        n = len(rows)
        classes[b, :n] = rows[:, 1].long()
        boxes[b, :n] = rows[:, 2:6]
        mask[b, :n] = True
    return classes, boxes, mask


class DetectionLoss:
    """Callable: ``(outputs, routings, targets) -> (total, parts {box, cls, dfl, moe})``.

    In a distributed run the normaliser (target score sum) and the batch size are the global batch's, and total and
    parts are this rank's shares: summed over ranks they are the loss of the global batch, as one process computes it.
    """

    def __init__(self, head, gains: LossGains = LossGains(), moe_weights: MoELossWeights = MoELossWeights(balance=1.0)):
        self.strides = head.strides
        self.num_classes = head.num_classes
        self.reg_max = head.reg_max
        self.box_channels = head.box_channels
        self.use_dfl = head.use_dfl
        self.gains = gains
        self.moe_weights = moe_weights
        self.assigner = TaskAlignedAssigner(top_k=10, alpha=0.5, beta=6.0)

    def __call__(self, outputs: list[Tensor], routings: Sequence[Routing], targets: Tensor) -> tuple[Tensor, dict[str, float]]:
        batch = outputs[0].shape[0]
        processes = ranks()
        anchors, stride_of = make_anchors(outputs, self.strides)  # (A, 2) grid units, (A, 1)
        box_raw, cls_logits = split_outputs(outputs, self.box_channels)  # (B, A, 4*R), (B, A, C)
        box_raw, cls_logits = box_raw.float(), cls_logits.float()
        pred_boxes = distances_to_xyxy(distances_from_raw(box_raw, self.reg_max), anchors)  # (B, A, 4) grid units
        gt_classes, gt_boxes, gt_mask = pad_targets(targets.to(box_raw.device), batch)
        assigned = self.assigner(
            cls_logits.detach().sigmoid(), (pred_boxes.detach() * stride_of), anchors * stride_of, gt_classes, gt_boxes, gt_mask
        )
        score_sum = sum_over_ranks(assigned.target_scores.sum()).clamp(min=1.0)  # the global batch's
        loss_cls = F.binary_cross_entropy_with_logits(cls_logits, assigned.target_scores, reduction="sum") / score_sum
        loss_box = loss_dfl = box_raw.new_zeros(())
        fg = assigned.fg
        if fg.any():
            weight = assigned.target_scores.sum(-1)[fg]  # (P,)
            target_grid = assigned.target_boxes / stride_of  # (B, A, 4) grid units
            loss_box = ((1.0 - ciou(pred_boxes[fg], target_grid[fg])) * weight).sum() / score_sum
            if self.use_dfl:
                anchor_fg = anchors.expand(batch, -1, -1)[fg]  # (P, 2)
                ltrb = torch.cat([anchor_fg - target_grid[fg][:, :2], target_grid[fg][:, 2:] - anchor_fg], dim=-1)
                ltrb = ltrb.clamp(0, self.reg_max - 1 - 0.01)
                pred_dist = box_raw[fg].view(-1, 4, self.reg_max)
                loss_dfl = (dfl_loss(pred_dist, ltrb) * weight).sum() / score_sum
        loss_moe = moe_aux_loss(list(routings), self.moe_weights).to(loss_cls.device) if routings else loss_cls.new_zeros(())
        loss_moe = loss_moe / processes  # each rank's balance loss already counts the global batch: a 1/N share
        g = self.gains
        global_batch = int(sum_over_ranks(torch.tensor(batch))) if processes > 1 else batch
        total = (g.box * loss_box + g.cls * loss_cls + g.dfl * loss_dfl + g.moe * loss_moe) * global_batch
        parts = {"box": loss_box.item(), "cls": loss_cls.item(), "dfl": loss_dfl.item(), "moe": loss_moe.item()}
        return total, parts
