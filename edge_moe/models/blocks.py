"""Convolution building blocks of the YOLO-style detectors (CSP / C2f, SPPF, depthwise-separable)."""
from __future__ import annotations

import torch
from torch import Tensor, nn


class ConvBNAct(nn.Module):
    """Conv2d (no bias) -> BatchNorm -> SiLU, 'same' padding."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 1, stride: int = 1, groups: int = 1, act: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU() if act else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    """Two 3x3 convs with an optional residual."""

    def __init__(self, c_in: int, c_out: int, shortcut: bool = True, expansion: float = 1.0):
        super().__init__()
        hidden = max(int(c_out * expansion), 1)
        self.cv1 = ConvBNAct(c_in, hidden, 3)
        self.cv2 = ConvBNAct(hidden, c_out, 3)
        self.add = shortcut and c_in == c_out

    def forward(self, x: Tensor) -> Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    """CSP block with two convs and ``n`` bottlenecks whose outputs are all concatenated (YOLOv8)."""

    def __init__(self, c_in: int, c_out: int, n: int = 1, shortcut: bool = True):
        super().__init__()
        self.hidden = c_out // 2
        self.cv1 = ConvBNAct(c_in, 2 * self.hidden, 1)
        self.cv2 = ConvBNAct((2 + n) * self.hidden, c_out, 1)
        self.blocks = nn.ModuleList(Bottleneck(self.hidden, self.hidden, shortcut) for _ in range(n))

    def forward(self, x: Tensor) -> Tensor:
        parts = list(self.cv1(x).chunk(2, dim=1))
        for block in self.blocks:
            parts.append(block(parts[-1]))
        return self.cv2(torch.cat(parts, dim=1))


class SPPF(nn.Module):
    """Spatial pyramid pooling (fast): three chained 5x5 max-pools, concatenated."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 5):
        super().__init__()
        hidden = c_in // 2
        self.cv1 = ConvBNAct(c_in, hidden, 1)
        self.cv2 = ConvBNAct(hidden * 4, c_out, 1)
        self.pool = nn.MaxPool2d(kernel, 1, kernel // 2)

    def forward(self, x: Tensor) -> Tensor:
        x = self.cv1(x)
        y1 = self.pool(x)
        y2 = self.pool(y1)
        return self.cv2(torch.cat([x, y1, y2, self.pool(y2)], dim=1))


class DWSeparable(nn.Module):
    """Depthwise kxk conv -> BN -> SiLU -> pointwise 1x1 conv (no activation: the MoE mixes then activates)."""

    def __init__(self, channels: int, kernel: int):
        super().__init__()
        self.depthwise = ConvBNAct(channels, channels, kernel, groups=channels)
        self.pointwise = nn.Conv2d(channels, channels, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.pointwise(self.depthwise(x))
