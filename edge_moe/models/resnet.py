"""The frozen ResNet18 trunk of the X-ray classifier's routing branch: conv1, bn1, relu, maxpool, layer1."""
from __future__ import annotations

import torch
from torch import Tensor, nn


class BasicBlock(nn.Module):
    """ResNet's two 3x3 convs with BN and an identity shortcut (layer1: 64 -> 64, stride 1)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: Tensor) -> Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(x + self.bn2(self.conv2(y)))


class FrozenResNetBranch(nn.Module):
    """ResNet18 conv1 .. layer1 -> global average pool: (B, 3, H, W) -> (B, 64), frozen.

    The weights are initialised deterministically (Kaiming normal from a fixed seed, whatever the
    global RNG) and never trained: ``requires_grad`` is off and BatchNorm stays in eval mode even
    under ``model.train()``. Nothing is downloaded; load ImageNet ResNet18 tensors into this module's
    state dict (same names as torchvision's) if you have them.
    """

    width = 64

    def __init__(self, seed: int = 0):
        super().__init__()
        self.conv1 = nn.Conv2d(3, self.width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = nn.Sequential(BasicBlock(self.width), BasicBlock(self.width))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for module in self.modules():
                if isinstance(module, nn.Conv2d):
                    nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        self.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> "FrozenResNetBranch":
        return super().train(False)  # frozen: BatchNorm always uses its running statistics

    def forward(self, images: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(images))))  # (B, 64, H/4, W/4)
        return self.layer1(x).mean(dim=(2, 3))  # (B, 64)
