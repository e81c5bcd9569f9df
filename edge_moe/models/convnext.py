"""ConvNeXt building blocks (Liu et al. 2022): 4x4 patchify stem, LayerNorm, 7x7 depthwise blocks with layer scale."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of a (B, C, H, W) map."""

    def forward(self, x: Tensor) -> Tensor:
        x = x.permute(0, 2, 3, 1)  # (B, H, W, C)
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps).permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    """dwconv 7x7 -> LayerNorm -> Linear C->4C -> GELU -> Linear 4C->C -> layer scale -> residual."""

    def __init__(self, channels: int, layer_scale: float = 1e-6):
        super().__init__()
        self.dwconv = nn.Conv2d(channels, channels, 7, padding=3, groups=channels)
        self.norm = nn.LayerNorm(channels, eps=1e-6)
        self.pwconv1 = nn.Linear(channels, 4 * channels)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * channels, channels)
        self.gamma = nn.Parameter(torch.full((channels,), layer_scale))

    def forward(self, x: Tensor) -> Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)  # (B, H, W, C)
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y)))) * self.gamma
        return x + y.permute(0, 3, 1, 2)


class ConvNeXtTrunk(nn.Module):
    """Stem + the first ``len(widths)`` stages + global average pool + LayerNorm: (B, 3, H, W) -> (B, widths[-1])."""

    def __init__(self, widths: tuple[int, ...], depths: tuple[int, ...], layer_scale: float = 1e-6):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 4, stride=4), LayerNorm2d(widths[0], eps=1e-6))  # stride 4
        self.stages = nn.ModuleList()
        for i, (width, depth) in enumerate(zip(widths, depths)):
            down = nn.Identity() if i == 0 else nn.Sequential(LayerNorm2d(widths[i - 1], eps=1e-6), nn.Conv2d(widths[i - 1], width, 2, stride=2))
            self.stages.append(nn.Sequential(down, *(ConvNeXtBlock(width, layer_scale) for _ in range(depth))))
        self.norm = nn.LayerNorm(widths[-1], eps=1e-6)
        self.apply(_init)

    def forward(self, images: Tensor) -> Tensor:
        x = self.stem(images)  # (B, w0, H/4, W/4)
        for stage in self.stages:
            x = stage(x)  # (B, w_i, H/2^(i+2), W/2^(i+2))
        return self.norm(x.mean(dim=(2, 3)))  # (B, widths[-1])


def _init(module: nn.Module) -> None:
    """ConvNeXt's init: truncated normal (std 0.02) weights, zero biases."""
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
