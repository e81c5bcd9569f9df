"""Decoupled anchor-free detection head (P3-P5) and the box decoding shared by training, eval and export.

Raw output per level: ``(B, box_channels + num_classes, H, W)`` where ``box_channels`` is
``4 * reg_max`` with DFL (a distribution over distances) or 4 without (distances directly).
Distances are left/top/right/bottom from the anchor point, in units of the level's stride.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from edge_moe.models.blocks import ConvBNAct


class DetectHead(nn.Module):
    def __init__(self, in_channels: tuple[int, ...], num_classes: int, strides: tuple[int, ...], use_dfl: bool, reg_max: int):
        super().__init__()
        self.num_classes = num_classes
        self.strides = strides
        self.use_dfl = use_dfl
        self.reg_max = reg_max if use_dfl else 1
        self.box_channels = 4 * self.reg_max
        box_hidden = max(16, in_channels[0] // 4, self.box_channels)
        cls_hidden = max(in_channels[0], min(num_classes, 100))
        self.box = nn.ModuleList(
            nn.Sequential(ConvBNAct(c, box_hidden, 3), ConvBNAct(box_hidden, box_hidden, 3), nn.Conv2d(box_hidden, self.box_channels, 1))
            for c in in_channels
        )
        self.cls = nn.ModuleList(
            nn.Sequential(ConvBNAct(c, cls_hidden, 3), ConvBNAct(cls_hidden, cls_hidden, 3), nn.Conv2d(cls_hidden, num_classes, 1))
            for c in in_channels
        )
        self.reset_bias()

    def reset_bias(self, imgsz: int = 640) -> None:
        """Prior on the class bias (~5 objects per image spread over the grid) for stable early training."""
        for branch, stride in zip(self.cls, self.strides):
            last = branch[-1]
            nn.init.constant_(last.bias, torch.log(torch.tensor(5 / self.num_classes / (imgsz / stride) ** 2)).item())
        for branch in self.box:
            nn.init.constant_(branch[-1].bias, 1.0)

    def forward(self, features: list[Tensor]) -> list[Tensor]:
        return [torch.cat([box(f), cls(f)], dim=1) for f, box, cls in zip(features, self.box, self.cls)]


def make_anchors(outputs: list[Tensor], strides: tuple[int, ...], offset: float = 0.5) -> tuple[Tensor, Tensor]:
    """Anchor points (A, 2) in grid units of their level and the stride of each (A, 1)."""
    points, stride_of = [], []
    for out, stride in zip(outputs, strides):
        _, _, h, w = out.shape
        ys = torch.arange(h, device=out.device, dtype=torch.float32) + offset
        xs = torch.arange(w, device=out.device, dtype=torch.float32) + offset
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        points.append(torch.stack([grid_x, grid_y], dim=-1).view(-1, 2))
        stride_of.append(torch.full((h * w, 1), float(stride), device=out.device))
    return torch.cat(points), torch.cat(stride_of)


def split_outputs(outputs: list[Tensor], box_channels: int) -> tuple[Tensor, Tensor]:
    """Flattens levels: box (B, A, box_channels) and class logits (B, A, num_classes)."""
    flat = torch.cat([o.flatten(2) for o in outputs], dim=2).transpose(1, 2)  # (B, A, C)
    return flat[..., :box_channels], flat[..., box_channels:]


def distances_from_raw(box_raw: Tensor, reg_max: int) -> Tensor:
    """(B, A, 4*reg_max or 4) -> (B, A, 4) non-negative ltrb distances in stride units."""
    if reg_max > 1:
        bins = torch.arange(reg_max, device=box_raw.device, dtype=box_raw.dtype)
        probs = box_raw.view(*box_raw.shape[:-1], 4, reg_max).softmax(dim=-1)
        return (probs * bins).sum(dim=-1)
    return F.softplus(box_raw)


def distances_to_xyxy(distances: Tensor, anchors: Tensor) -> Tensor:
    """ltrb distances (..., 4) around anchor points (A, 2) -> boxes (..., 4) as x1, y1, x2, y2."""
    lt, rb = distances.split(2, dim=-1)
    return torch.cat([anchors - lt, anchors + rb], dim=-1)


def decode_outputs(outputs: list[Tensor], head: DetectHead) -> tuple[Tensor, Tensor]:
    """Raw head outputs -> boxes (B, A, 4) in input pixels (xyxy) and class scores (B, A, nc) in [0, 1]."""
    anchors, stride_of = make_anchors(outputs, head.strides)
    box_raw, cls_logits = split_outputs(outputs, head.box_channels)
    boxes = distances_to_xyxy(distances_from_raw(box_raw, head.reg_max), anchors) * stride_of
    return boxes, cls_logits.sigmoid()
