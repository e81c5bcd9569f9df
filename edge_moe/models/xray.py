"""The MoE X-ray classifier (Lee and Choi, KNU; code 2JAE22/Xray_module_classification).

A ConvNeXt trunk (stem + the first two stages, GAP -> 768-d) and, on the same image, a frozen ResNet18
branch (conv1 .. layer1, GAP -> 64-d) whose noisy top-k gate (Shazeer et al. 2017) routes each image
to ``top_k`` of ``experts`` Linear(64 -> 128) experts; the weighted mix (128-d) is concatenated with
the trunk's features (896-d) and classified by one Linear layer. The dense twin drops the MoE branch.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from edge_moe.models.config import ConfigError, _positive, check_imgsz
from edge_moe.models.convnext import ConvNeXtTrunk
from edge_moe.models.program import Program, Step
from edge_moe.models.resnet import FrozenResNetBranch
from edge_moe.moe import MoELayer, NoisyTopKGate, Routing
from edge_moe.moe.layer import name_moe_layers

STRIDE = 8  # 4x4 stem, then one 2x2 downsample


@dataclass(frozen=True)
class XrayConfig:
    """``widths``/``depths``: the ConvNeXt stages kept (paper: ConvNeXt-XXLarge stage0 + stage1).

    ``experts`` Linear(64 -> ``expert_dim``) experts, ``top_k`` per image; ``experts=0`` is the dense
    twin (trunk only).
    """

    name: str
    num_classes: int = 474
    imgsz: int = 384
    widths: tuple[int, ...] = (384, 768)
    depths: tuple[int, ...] = (3, 4)
    experts: int = 10
    top_k: int = 3
    expert_dim: int = 128
    layer_scale: float = 1e-6
    task: str = "classify"
    strides: tuple[int, ...] = (STRIDE,)

    def __post_init__(self) -> None:
        _positive("num_classes", self.num_classes)
        check_imgsz(self.imgsz, STRIDE)
        if len(self.widths) != 2 or len(self.depths) != 2:
            raise ConfigError(f"widths and depths must have 2 entries (stage0, stage1), got {self.widths}, {self.depths}")
        for i, value in enumerate((*self.widths, *self.depths)):
            _positive(f"widths/depths[{i}]", value)
        if self.experts:
            _positive("experts", self.experts)
            _positive("expert_dim", self.expert_dim)
            if not 1 <= self.top_k <= self.experts:
                raise ConfigError(f"top_k must be in [1, {self.experts}] (experts), got {self.top_k}")
        if self.strides != (STRIDE,):
            raise ConfigError(f"strides must be {(STRIDE,)}, got {self.strides}")

    @property
    def moe(self) -> bool:
        return self.experts > 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "XrayConfig":
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


class ClassifierHead(nn.Module):
    """Concatenates the feature vectors and maps them to class logits."""

    def __init__(self, in_features: int, num_classes: int):
        super().__init__()
        self.fc = nn.Linear(in_features, num_classes)

    def forward(self, *features: Tensor) -> Tensor:
        return self.fc(torch.cat(features, dim=1))  # (B, num_classes)


class Softmax(nn.Module):
    def forward(self, logits: Tensor) -> Tensor:
        return logits.softmax(dim=1)


class XrayClassifier(nn.Module):
    """``forward(images)`` returns ``(logits (B, num_classes), routings)``; images (B, 3, H, W) RGB in [0, 1]."""

    def __init__(self, cfg: XrayConfig):
        super().__init__()
        self.config = cfg
        self.trunk = ConvNeXtTrunk(cfg.widths, cfg.depths, cfg.layer_scale)
        features = cfg.widths[-1]
        if cfg.moe:
            self.branch = FrozenResNetBranch()
            width = FrozenResNetBranch.width
            experts = [nn.Linear(width, cfg.expert_dim) for _ in range(cfg.experts)]
            self.moe = MoELayer(experts, NoisyTopKGate(width, cfg.experts, cfg.top_k), cfg.top_k)
            features += cfg.expert_dim
        self.head = ClassifierHead(features, cfg.num_classes)
        name_moe_layers(self)

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    def program(self) -> Program:
        """images -> trunk (768-d) [, frozen branch (64-d) -> gate + experts (128-d)] -> logits; deployment adds probs."""
        steps = [Step(self.trunk, ("images",), ("trunk",))]
        features: tuple[str, ...] = ("trunk",)
        if self.config.moe:
            steps += [Step(self.branch, ("images",), ("branch",)), Step(self.moe, ("branch",), ("experts",))]
            features += ("experts",)
        steps.append(Step(self.head, features, ("logits",)))
        return Program(("images",), tuple(steps), ("logits",), (Step(Softmax(), ("logits",), ("probs",)),), ("logits", "probs"))

    def forward(self, images: Tensor) -> tuple[Tensor, list[Routing]]:
        env, routings = self.program().run(images)
        return env["logits"], routings
