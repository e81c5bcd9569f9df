"""What a per-image router sees: the feature map summarised to one vector per image.

- ``gap``: global average pooling (YOLO-Master); blind to how peaked the activations are.
- ``gap+gmp``: average and max pooling concatenated; the max sees small, strong objects that the
  average washes out (a scene with many small objects vs a few large ones).
- ``spectrum``: per channel, the share of its spatial variance that survives 2x2 and 4x4 average
  pooling: how coarse the activity is (the scale of what the image shows). A per-channel gain and
  offset leaves it unchanged, so the photometric jitter of training (HSV) barely moves it, where it
  moves the pooled means and maxima about as much as the images differ from each other, and routers
  fed those learn to route by the jitter (docs/routing.md).
- ``gap+gmp+spectrum``: all three, concatenated.
- ``conv``: a depthwise 3x3 stride-2 conv + SiLU before average pooling, so local texture and
  object density reach the router.

Any of them can be standardised per channel over the batch (:class:`BatchStandardize`): pooled
features differ little from image to image next to their common mean, so a router fed them raw
gives every image about the same logits; standardised, the differences between images (and between
scene regimes) are what it sees.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def average(x: Tensor) -> Tensor:
    return x.mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1)


def maximum(x: Tensor) -> Tensor:
    return x.amax(dim=(2, 3), keepdim=True)  # (B, C, 1, 1)


SPECTRUM_POOLS = (2, 4)


def scale_spectrum(x: Tensor) -> Tensor:
    """``(B, C, H, W) -> (B, 2C, 1, 1)``: each channel's variance after 2x2 and after 4x4 average pooling, over its
    variance: near 1 for coarse activity (large objects), near 0 for fine detail (small ones)."""
    variance = x.var(dim=(2, 3), keepdim=True, unbiased=False) + 1e-5  # (B, C, 1, 1)
    height, width = x.shape[-2:]
    return torch.cat([F.avg_pool2d(x, min(pool, height, width)).var(dim=(2, 3), keepdim=True, unbiased=False) / variance
                      for pool in SPECTRUM_POOLS], dim=1)


# name -> (the statistic, its channels per input channel)
STATISTICS = {"gap": (average, 1), "gmp": (maximum, 1), "spectrum": (scale_spectrum, len(SPECTRUM_POOLS))}


class PooledStatistics(nn.Module):
    """``(B, C, H, W) -> (B, sum of widths * C, 1, 1)``: the named per-channel statistics, concatenated in order."""

    def __init__(self, names: tuple[str, ...]):
        super().__init__()
        self.names = names

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([STATISTICS[name][0](x) for name in self.names], dim=1)


class ConvPool(nn.Module):
    """Depthwise 3x3 stride-2 conv + SiLU, then average pooling: ``(B, C, H, W) -> (B, C, 1, 1)``."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1, groups=channels)
        self.act = nn.SiLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.conv(x)).mean(dim=(2, 3), keepdim=True)


def router_input(kind: str, channels: int) -> tuple[nn.Module, int]:
    """The pooling module of ``kind`` (``conv``, or ``+``-joined statistics of :data:`STATISTICS`) and the channels it
    outputs."""
    if kind == "conv":
        return ConvPool(channels), channels
    names = tuple(kind.split("+"))
    if not all(name in STATISTICS for name in names) or len(set(names)) != len(names):
        raise ValueError(f"router input must be 'conv' or distinct '+'-joined statistics of {', '.join(STATISTICS)}, got {kind!r}")
    return PooledStatistics(names), sum(STATISTICS[name][1] for name in names) * channels


class BatchStandardize(nn.BatchNorm2d):
    """BatchNorm of a ``(B, C, 1, 1)`` router tensor (the pooled input, or the logits): running statistics in eval (a
    fixed affine map, exported as such); a training batch of one image, which has no spread to measure, is normalised
    with them too."""

    def forward(self, x: Tensor) -> Tensor:
        if self.training and x.shape[0] == 1:
            return nn.functional.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        return super().forward(x)
