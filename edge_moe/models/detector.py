"""The YOLO-style MoE detector: backbone (C2f stages + SPPF, ES-MoE after P2..P5), PAN neck, decoupled head.

``forward(images)`` returns ``(outputs, routings)`` in train and eval alike: ``outputs`` is the list
of raw head maps for P3, P4, P5 and ``routings`` one :class:`~edge_moe.moe.Routing` per MoE layer
(empty for a dense model). Decoding to boxes is :meth:`MoEDetector.decode`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from edge_moe.models.blocks import C2f, SPPF, ConvBNAct
from edge_moe.models.config import DetectorConfig
from edge_moe.models.esmoe import esmoe_block
from edge_moe.models.head import DetectHead, decode_outputs
from edge_moe.models.program import Program, Step
from edge_moe.moe import Routing
from edge_moe.moe.layer import name_moe_layers


class Backbone(nn.Module):
    def __init__(self, cfg: DetectorConfig):
        super().__init__()
        w = cfg.widths
        self.stem = ConvBNAct(3, w[0], 3, 2)  # P1, stride 2
        self.stages = nn.ModuleList()
        self.moe = nn.ModuleDict()
        for i, stage in enumerate((2, 3, 4, 5)):
            layers = [ConvBNAct(w[i], w[i + 1], 3, 2), C2f(w[i + 1], w[i + 1], cfg.depths[i])]
            if stage == 5:
                layers.append(SPPF(w[4], w[4]))
            self.stages.append(nn.Sequential(*layers))
            if cfg.moe is not None and stage in cfg.moe.stages:
                self.moe[f"p{stage}"] = esmoe_block(w[i + 1], cfg.moe, stage)

    def steps(self) -> list[Step]:
        """Stem, then per stage P2..P5 the stage and its ES-MoE block: ``images -> p1 -> [c{s} ->] p{s}``."""
        steps = [Step(self.stem, ("images",), ("p1",))]  # (B, w0, H/2, W/2)
        previous = "p1"
        for stage, block in zip((2, 3, 4, 5), self.stages):
            moe = self.moe[f"p{stage}"] if f"p{stage}" in self.moe else None
            out = f"p{stage}"  # (B, w[stage-1], H/2^stage, W/2^stage)
            if moe is None:
                steps.append(Step(block, (previous,), (out,)))
            else:
                steps += [Step(block, (previous,), (f"c{stage}",)), Step(moe, (f"c{stage}",), (out,))]
            previous = out
        return steps


class PANNeck(nn.Module):
    """Top-down FPN then bottom-up path aggregation, as in YOLOv8."""

    def __init__(self, c3: int, c4: int, c5: int, depth: int):
        super().__init__()
        self.top_p4 = C2f(c5 + c4, c4, depth, shortcut=False)
        self.top_p3 = C2f(c4 + c3, c3, depth, shortcut=False)
        self.down_p3 = ConvBNAct(c3, c3, 3, 2)
        self.out_p4 = C2f(c3 + c4, c4, depth, shortcut=False)
        self.down_p4 = ConvBNAct(c4, c4, 3, 2)
        self.out_p5 = C2f(c4 + c5, c5, depth, shortcut=False)

    def forward(self, p3: Tensor, p4: Tensor, p5: Tensor) -> list[Tensor]:
        t4 = self.top_p4(torch.cat([F.interpolate(p5, scale_factor=2.0, mode="nearest"), p4], 1))
        n3 = self.top_p3(torch.cat([F.interpolate(t4, scale_factor=2.0, mode="nearest"), p3], 1))
        n4 = self.out_p4(torch.cat([self.down_p3(n3), t4], 1))
        n5 = self.out_p5(torch.cat([self.down_p4(n4), p5], 1))
        return [n3, n4, n5]


class MoEDetector(nn.Module):
    def __init__(self, cfg: DetectorConfig):
        super().__init__()
        self.config = cfg
        self.backbone = Backbone(cfg)
        c3, c4, c5 = cfg.widths[2:]
        self.neck = PANNeck(c3, c4, c5, cfg.neck_depth)
        self.head = DetectHead((c3, c4, c5), cfg.num_classes, cfg.strides, cfg.use_dfl, cfg.reg_max)
        self.head.reset_bias(cfg.imgsz)
        name_moe_layers(self)

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    def program(self) -> Program:
        """images -> backbone -> neck -> head maps ``o3..o5``; deployment decodes them to boxes and scores."""
        maps = ("o3", "o4", "o5")
        steps = [
            *self.backbone.steps(),
            Step(self.neck, ("p3", "p4", "p5"), ("n3", "n4", "n5")),
            Step(ListArgs(self.head), ("n3", "n4", "n5"), maps),
        ]
        return Program(("images",), tuple(steps), maps, (Step(Decode(self.head), maps, ("boxes", "scores")),), ("boxes", "scores"))

    def forward(self, images: Tensor) -> tuple[list[Tensor], list[Routing]]:
        # images: (B, 3, H, W) RGB in [0, 1], H and W multiples of 32
        program = self.program()
        env, routings = program.run(images)
        return [env[name] for name in program.outputs], routings

    def decode(self, outputs: list[Tensor]) -> tuple[Tensor, Tensor]:
        """Boxes (B, A, 4) xyxy in input pixels and class scores (B, A, nc) in [0, 1]."""
        return decode_outputs(outputs, self.head)


class ListArgs(nn.Module):
    """Calls a module that takes a list of maps with the maps as separate arguments (a program step)."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, *maps: Tensor) -> list[Tensor]:
        return self.module(list(maps))


class Decode(nn.Module):
    """Head maps -> boxes (B, A, 4) xyxy in input pixels and class scores (B, A, nc): the deployment step."""

    def __init__(self, head: DetectHead):
        super().__init__()
        self.head = head

    def forward(self, *outputs: Tensor) -> tuple[Tensor, Tensor]:
        return decode_outputs(list(outputs), self.head)
