"""ES-MoE blocks from YOLO-Master (arXiv 2512.23273): efficient sparse MoE in the detector backbone.

Each block holds E experts (depthwise-separable convs of kernel sizes 3/5/7/9, or full bottlenecks
for the capacity preset), a per-image router, and outputs ``x + SiLU(BN(sum_k w_k * expert_k(x)))``.
The dense variant is the equal-compute baseline: the first K experts, always on, equal weights.
"""
from __future__ import annotations

from torch import Tensor, nn

from edge_moe.models.blocks import Bottleneck, DWSeparable
from edge_moe.models.config import MoEConfig
from edge_moe.moe import ImageRouter, MoELayer


def build_experts(channels: int, cfg: MoEConfig, count: int) -> list[nn.Module]:
    if cfg.expert_type == "bottleneck":
        return [Bottleneck(channels, channels, shortcut=False) for _ in range(count)]
    return [DWSeparable(channels, cfg.kernel_sizes[i % len(cfg.kernel_sizes)]) for i in range(count)]


def _post(channels: int) -> nn.Module:
    return nn.Sequential(nn.BatchNorm2d(channels, eps=1e-3, momentum=0.03), nn.SiLU())


def esmoe_block(channels: int, cfg: MoEConfig) -> nn.Module:
    """An ES-MoE block, or its dense equal-compute twin when ``cfg.dense``."""
    if cfg.dense:
        return DenseExpertsBlock(build_experts(channels, cfg, cfg.top_k), _post(channels))
    return MoELayer(
        build_experts(channels, cfg, cfg.experts),
        ImageRouter(channels, cfg.experts, cfg.router_input, cfg.router_temperature, cfg.router_jitter, cfg.expert_dropout, cfg.bias_rate,
                    cfg.router_norm),
        cfg.top_k,
        post=_post(channels),
        residual=True,
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
