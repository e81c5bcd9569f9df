"""YOLO-MoE (Meiraz, Shalev, Weizman; arXiv 2511.13344): pretrained dense detectors as experts, mixed per image.

Two deployment variants, both one MoE step (layer ``router``) of a :class:`Program`, so the shared
export lowerings cut them without code of their own:

- ``paper``: every expert's backbone + neck runs; the router fuses the experts' pre-head features per
  scale (a re-weighted Hadamard product together with their concatenation -> light CNN -> FC) into
  logits, softmax -> alpha per image; the MoE step's experts are the heads, whose raw class and box
  (DFL) logits are mixed with alpha before decoding. Top-K' = 1 at run time skips the other heads.
- ``early``: a cheap stem on the image routes; the MoE step's experts are whole detectors, so an
  unchosen expert's backbone, neck and head are all skipped.

An MoE step reads one tensor and its experts return one tensor, so multi-scale maps travel packed:
each map is space-to-depth'ed to the stride-32 grid and the maps are concatenated along channels
(:class:`Packing`). Training mixes all E experts with the soft alpha (``top_k = E``); deployment picks K'.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from edge_moe.models.blocks import ConvBNAct
from edge_moe.models.config import ConfigError, DetectorConfig, _positive
from edge_moe.models.detector import Decode, MoEDetector
from edge_moe.models.head import DetectHead
from edge_moe.models.program import Program, Step
from edge_moe.moe import MoELayer, MoELossWeights
from edge_moe.moe.layer import name_moe_layers

VARIANTS = ("paper", "early")
FAMILY = "yolo-moe"


@dataclass(frozen=True)
class YoloMoEConfig:
    """``experts`` copies of the dense detector ``expert`` (zoo name ``expert_model``), routed per image.

    ``frozen``: the experts keep their weights and BatchNorm statistics while the router trains.
    """

    name: str
    expert: DetectorConfig
    expert_model: str
    experts: int = 2
    variant: str = "paper"
    router_width: int = 16
    frozen: bool = False
    family: str = FAMILY
    task: str = "detect"

    def __post_init__(self) -> None:
        if not isinstance(self.experts, int) or self.experts < 2:
            raise ConfigError(f"experts must be an integer >= 2 (an ensemble), got {self.experts!r}")
        if self.variant not in VARIANTS:
            raise ConfigError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        _positive("router_width", self.router_width)
        if self.expert.moe is not None and not self.expert.moe.dense:
            raise ConfigError(f"expert must be a dense detector (yolo-*), got routed MoE config {self.expert.name!r}")

    # The fields the trainer, validator, exporter and runtime read from any detector config.
    @property
    def num_classes(self) -> int:
        return self.expert.num_classes

    @property
    def imgsz(self) -> int:
        return self.expert.imgsz

    @property
    def strides(self) -> tuple[int, ...]:
        return self.expert.strides

    @property
    def top_k(self) -> int:
        return self.experts  # soft alpha over all experts; the runtime's --top-k picks K' <= E

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "YoloMoEConfig":
        data = dict(data)
        expert = DetectorConfig.from_dict(data.pop("expert"))
        return cls(expert=expert, **data)


class Packing(nn.Module):
    """Packs maps of strides ``strides`` (channels ``channels``) into one stride-32 map and back, exactly.

    ``pack``: (B, c_i, H/s_i, W/s_i) each -> (B, sum c_i * (32/s_i)^2, H/32, W/32) by pixel_unshuffle.
    """

    def __init__(self, channels: Sequence[int], strides: Sequence[int]):
        super().__init__()
        coarsest = max(strides)
        self.factors = [coarsest // s for s in strides]
        self.channels = list(channels)
        self.sizes = [c * f * f for c, f in zip(self.channels, self.factors)]

    @property
    def width(self) -> int:
        return sum(self.sizes)

    def pack(self, maps: Sequence[Tensor]) -> Tensor:
        return torch.cat([F.pixel_unshuffle(m, f) if f > 1 else m for m, f in zip(maps, self.factors)], dim=1)

    def unpack(self, packed: Tensor) -> list[Tensor]:
        parts = packed.split(self.sizes, dim=1)
        return [F.pixel_shuffle(p, f) if f > 1 else p for p, f in zip(parts, self.factors)]


class Pack(nn.Module):
    """A program step: maps -> one packed tensor (see :class:`Packing`)."""

    def __init__(self, packing: Packing):
        super().__init__()
        self.packing = packing

    def forward(self, *maps: Tensor) -> Tensor:
        return self.packing.pack(maps)


class Unpack(Pack):
    """A program step: one packed tensor -> its maps."""

    def forward(self, packed: Tensor) -> list[Tensor]:  # type: ignore[override]
        return self.packing.unpack(packed)


class HeadExpert(nn.Module):
    """Expert ``index`` of the paper variant: its slice of the packed neck features -> its head -> packed raw maps."""

    def __init__(self, head: DetectHead, index: int, features: Packing, outputs: Packing):
        super().__init__()
        self.head = head
        self.index = index
        self.features = features
        self.outputs = outputs

    def forward(self, packed: Tensor) -> Tensor:
        # packed: (B, E * features.width, h, w); this expert's block is the index-th
        mine = packed[:, self.index * self.features.width : (self.index + 1) * self.features.width]
        return self.outputs.pack(self.head(self.features.unpack(mine)))


class DetectorExpert(nn.Module):
    """Expert of the early variant: a whole detector, images -> packed raw head maps."""

    def __init__(self, detector: MoEDetector, outputs: Packing):
        super().__init__()
        self.detector = detector
        self.outputs = outputs

    def forward(self, images: Tensor) -> Tensor:
        maps, _ = self.detector(images)
        return self.outputs.pack(maps)


class FusionRouter(nn.Module):
    """The paper's router: per scale, each expert's features re-weighted by a 1x1 conv to ``width`` channels,
    their Hadamard product concatenated with the re-weighted features, a light CNN, GAP; FC (``logits``) over all scales -> E logits."""

    def __init__(self, features: Packing, experts: int, width: int):
        super().__init__()
        self.features = features
        self.experts = experts
        self.reweight = nn.ModuleList(
            nn.ModuleList(nn.Conv2d(c, width, 1) for _ in range(experts)) for c in features.channels
        )
        self.mix = nn.ModuleList(ConvBNAct((experts + 1) * width, width, 3, 2) for _ in features.channels)
        self.logits = nn.Linear(width * len(features.channels), experts)

    def fuse(self, per_expert: list[list[Tensor]]) -> list[Tensor]:
        """Per scale: concat(Hadamard product of the re-weighted maps, the re-weighted maps) (B, (E+1)*width, h, w)."""
        fused = []
        for scale, convs in enumerate(self.reweight):
            weighted = [conv(maps[scale]) for conv, maps in zip(convs, per_expert)]
            product = weighted[0]
            for other in weighted[1:]:
                product = product * other
            fused.append(torch.cat([product, *weighted], dim=1))
        return fused

    def forward(self, packed: Tensor) -> Tensor:
        blocks = packed.split(self.features.width, dim=1)  # E x (B, features.width, h, w)
        per_expert = [self.features.unpack(block) for block in blocks]
        pooled = [mix(f).mean(dim=(2, 3)) for mix, f in zip(self.mix, self.fuse(per_expert))]  # (B, width) each
        return self.logits(torch.cat(pooled, dim=1))  # (B, E)


class StemRouter(nn.Module):
    """The early router: three stride-2 convs (to stride 8) on the image, GAP, FC -> E logits."""

    def __init__(self, experts: int, width: int):
        super().__init__()
        self.stem = nn.Sequential(ConvBNAct(3, width // 2, 3, 2), ConvBNAct(width // 2, width, 3, 2), ConvBNAct(width, width, 3, 2))
        self.logits = nn.Linear(width, experts)

    def forward(self, images: Tensor) -> Tensor:
        return self.logits(self.stem(images).mean(dim=(2, 3)))  # (B, E)


class Trunk(nn.Module):
    """An expert detector's backbone and neck (the paper variant runs every one of them)."""

    def __init__(self, detector: MoEDetector):
        super().__init__()
        self.backbone = detector.backbone
        self.neck = detector.neck

    def steps(self, prefix: str) -> list[Step]:
        """The backbone and neck steps with their tensors renamed ``{prefix}.name`` (``images`` kept)."""
        rename = lambda name: name if name == "images" else f"{prefix}.{name}"  # noqa: E731
        steps = [Step(s.module, tuple(map(rename, s.inputs)), tuple(map(rename, s.outputs))) for s in self.backbone.steps()]
        return steps + [Step(self.neck, tuple(rename(n) for n in ("p3", "p4", "p5")), tuple(rename(n) for n in ("n3", "n4", "n5")))]


class YoloMoE(nn.Module):
    """``forward(images)`` returns ``(raw head maps o3..o5 mixed with alpha, [routing of layer "router"])``."""

    moe_loss_weights = MoELossWeights(balance=0.0, importance=1.0)  # with K = E the Switch term is constant

    def __init__(self, cfg: YoloMoEConfig, detectors: Sequence[MoEDetector]):
        super().__init__()
        if len(detectors) != cfg.experts:
            raise ConfigError(f"{cfg.name}: {cfg.experts} experts configured, {len(detectors)} detectors given")
        self.config = cfg
        head = detectors[0].head
        self.outputs = Packing([head.box_channels + head.num_classes] * len(cfg.strides), cfg.strides)
        if cfg.variant == "paper":
            c3, c4, c5 = cfg.expert.widths[2:]
            features = Packing((c3, c4, c5), cfg.strides)
            self.features = Packing(features.channels * cfg.experts, list(cfg.strides) * cfg.experts)  # every expert's n3..n5
            self.trunks = nn.ModuleList(Trunk(d) for d in detectors)
            experts = [HeadExpert(d.head, e, features, self.outputs) for e, d in enumerate(detectors)]
            router: nn.Module = FusionRouter(features, cfg.experts, cfg.router_width)
        else:
            experts = [DetectorExpert(d, self.outputs) for d in detectors]
            router = StemRouter(cfg.experts, cfg.router_width)
        self.ensemble = MoELayer(experts, router, cfg.top_k)
        name_moe_layers(self, lambda _: "router")
        if cfg.frozen:
            for param in self.expert_parameters():
                param.requires_grad_(False)

    @property
    def head(self) -> DetectHead:
        """The first expert's head: the output format (strides, classes, DFL bins) every expert shares."""
        expert = self.ensemble.experts[0]
        return expert.head if isinstance(expert, HeadExpert) else expert.detector.head

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    def expert_modules(self) -> list[nn.Module]:
        trunks = list(self.trunks) if self.config.variant == "paper" else []
        return trunks + list(self.ensemble.experts)

    def expert_parameters(self) -> list[nn.Parameter]:
        return [p for module in self.expert_modules() for p in module.parameters()]

    def train(self, mode: bool = True) -> "YoloMoE":
        """Frozen experts stay in eval mode, so their BatchNorm statistics do not move either."""
        super().train(mode)
        if self.config.frozen:
            for module in self.expert_modules():
                module.eval()
        return self

    def program(self) -> Program:
        """paper: images -> every trunk -> packed features -> router(heads) -> o3..o5; early: images -> router(detectors) -> o3..o5."""
        maps = ("o3", "o4", "o5")
        steps: list[Step] = []
        if self.config.variant == "paper":
            names: list[str] = []
            for e, trunk in enumerate(self.trunks):
                steps += trunk.steps(f"e{e}")
                names += [f"e{e}.n3", f"e{e}.n4", f"e{e}.n5"]
            steps.append(Step(Pack(self.features), tuple(names), ("features",)))  # (B, E * width, H/32, W/32)
            source = "features"
        else:
            source = "images"
        steps += [Step(self.ensemble, (source,), ("mixed",)), Step(Unpack(self.outputs), ("mixed",), maps)]
        return Program(("images",), tuple(steps), maps, (Step(Decode(self.head), maps, ("boxes", "scores")),), ("boxes", "scores"))

    # Interpreting the program and decoding its maps are the detector's own (they read program() and head).
    forward = MoEDetector.forward
    decode = MoEDetector.decode
