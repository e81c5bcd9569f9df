"""ES-MoE blocks from YOLO-Master (arXiv 2512.23273): efficient sparse MoE in the detector backbone.

Each block holds E experts (depthwise-separable convs of kernel sizes 3/5/7/9, or full bottlenecks
for the capacity preset), a per-image router, and outputs ``x + SiLU(BN(sum_k w_k * expert_k(x)))``;
with ``moe.shared_experts`` S > 0 the mixture is averaged with S always-on experts.
The dense variant is the equal-compute baseline: the first K experts, always on, equal weights.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from edge_moe.models.blocks import Bottleneck, DWSeparable
from edge_moe.models.config import MoEConfig
from edge_moe.moe import ImageRouter, MoELayer


def build_experts(channels: int, cfg: MoEConfig, count: int, kernel_sizes: tuple[int, ...] = ()) -> list[nn.Module]:
    """``count`` experts; ``dwsep`` ones cycle ``kernel_sizes`` (default: ``cfg.kernel_sizes``)."""
    kernel_sizes = kernel_sizes or cfg.kernel_sizes
    if cfg.expert_type == "bottleneck":
        experts: list[nn.Module] = [Bottleneck(channels, channels, shortcut=False, expansion=cfg.expert_expansion) for _ in range(count)]
    else:
        experts = [DWSeparable(channels, kernel_sizes[i % len(kernel_sizes)]) for i in range(count)]
    if cfg.expert_init == "shared":
        start_as_one(experts)
    return experts


@torch.no_grad()
def start_as_one(experts: list[nn.Module]) -> None:
    """Gives every expert the first one's initial weights, so all start as the same function and diverge only by the
    images routed to them (as when experts are upcycled from one dense block). A smaller kernel goes to the centre of a
    larger one, zeros around it: with "same" padding a 3x3 kernel inside a 5x5 computes the same map."""
    source = experts[0].state_dict()
    for expert in experts[1:]:
        for name, target in expert.state_dict().items():
            value = source[name]
            if value.shape[:-2] != target.shape[:-2] or value.dim() != target.dim():
                raise ValueError(f"experts differ in {name}: {tuple(value.shape)} vs {tuple(target.shape)}")
            target.copy_(centred(value, target.shape[-2:]) if value.dim() >= 2 else value)


def centred(kernel: Tensor, size: torch.Size) -> Tensor:
    """``kernel`` (..., kh, kw) zero-padded or cropped around its centre to (..., size)."""
    out = kernel.new_zeros((*kernel.shape[:-2], *size))
    dh, dw = (size[0] - kernel.shape[-2]) // 2, (size[1] - kernel.shape[-1]) // 2
    src = kernel[..., max(-dh, 0):kernel.shape[-2] - max(-dh, 0), max(-dw, 0):kernel.shape[-1] - max(-dw, 0)]
    out[..., max(dh, 0):max(dh, 0) + src.shape[-2], max(dw, 0):max(dw, 0) + src.shape[-1]] = src
    return out


def _post(channels: int) -> nn.Module:
    return nn.Sequential(nn.BatchNorm2d(channels, eps=1e-3, momentum=0.03), nn.SiLU())


def esmoe_block(channels: int, cfg: MoEConfig, stage: int) -> nn.Module:
    """The ES-MoE block after backbone stage ``stage``, or its dense equal-compute twin when ``cfg.dense``."""
    if cfg.dense:
        return DenseExpertsBlock(build_experts(channels, cfg, cfg.top_k), _post(channels))
    return MoELayer(
        build_experts(channels, cfg, cfg.experts),
        ImageRouter(channels, cfg.experts, cfg.router_input_at(stage), cfg.router_temperature, cfg.router_jitter, cfg.expert_dropout, cfg.bias_rate,
                    cfg.router_norm, cfg.bias_scores, logit_norm=cfg.router_logit_norm, detach=cfg.router_detach),
        cfg.top_k,
        post=_post(channels),
        residual=True,
        weight_floor=cfg.weight_floor,
        shared=build_experts(channels, cfg, cfg.shared_experts, cfg.shared_kernel_sizes) if cfg.shared_experts else None,
    )


class DenseExpertsBlock(nn.Module):
    """The same block with no routing: every expert always on, averaged."""

    def __init__(self, experts: list[nn.Module], post: nn.Module):
        super().__init__()
        self.experts = nn.ModuleList(experts)
        self.post = post

    def forward(self, x: Tensor) -> Tensor:
        mixed = sum(expert(x) for expert in self.experts) / len(self.experts)
        return x + self.post(mixed)
