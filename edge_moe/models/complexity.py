"""Parameter and FLOP accounting that knows about experts: total vs active per frame.

FLOPs are counted for Conv2d and Linear layers (2 x multiply-accumulates, the convention of the
YOLO papers) on one image, with every expert run so that each expert's cost is known separately.
Active figures count the network outside the experts plus, per MoE layer, the K costliest experts:
an upper bound on what any routing decision executes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from edge_moe.moe import moe_execution, moe_layers


@dataclass
class LayerCost:
    name: str
    top_k: int
    expert_params: list[int]
    expert_flops: list[float]

    @property
    def experts(self) -> int:
        return len(self.expert_params)

    def active_params(self, k: int | None = None) -> int:
        return sum(sorted(self.expert_params, reverse=True)[: k or self.top_k])

    def active_flops(self, k: int | None = None) -> float:
        return sum(sorted(self.expert_flops, reverse=True)[: k or self.top_k])


@dataclass
class Complexity:
    params: int
    trainable_params: int
    frozen_params: int
    flops: float  # every expert executed
    base_params: int  # outside the experts
    base_flops: float
    layers: list[LayerCost] = field(default_factory=list)

    @property
    def active_params(self) -> int:
        return self.base_params + sum(layer.active_params() for layer in self.layers)

    @property
    def active_flops(self) -> float:
        return self.base_flops + sum(layer.active_flops() for layer in self.layers)

    def executed_flops(self, chosen: dict[str, list[int]]) -> float:
        """FLOPs of one frame given the expert ids each MoE layer chose (layer name -> ids)."""
        by_name = {layer.name: layer for layer in self.layers}
        return self.base_flops + sum(sum(by_name[n].expert_flops[e] for e in ids) for n, ids in chosen.items())


def _module_flops(module: nn.Module, output: torch.Tensor) -> float:
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        macs = output.numel() // output.shape[0] * (module.in_channels // module.groups) * kh * kw
        return 2.0 * macs
    if isinstance(module, nn.Linear):
        return 2.0 * output.numel() // output.shape[0] * module.in_features
    return 0.0


@torch.no_grad()
def measure(model: nn.Module, imgsz: int) -> Complexity:
    """Counts params and FLOPs of ``model`` on one ``imgsz`` x ``imgsz`` image."""
    layers = moe_layers(model)
    expert_prefix = {}
    for layer in layers:
        for e, expert in enumerate(layer.experts):
            for name, _ in expert.named_modules():
                expert_prefix[id(expert.get_submodule(name) if name else expert)] = (layer.name, e)
    flops_of: dict[tuple[str, int] | None, float] = {}

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        key = expert_prefix.get(id(module))
        flops_of[key] = flops_of.get(key, 0.0) + _module_flops(module, output)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    model.eval()
    try:
        with moe_execution(model, "dense"):
            model(torch.zeros(1, 3, imgsz, imgsz))  # a family's forward interprets its program
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()

    costs = []
    expert_param_total = 0
    for layer in layers:
        params = [sum(p.numel() for p in expert.parameters()) for expert in layer.experts]
        expert_param_total += sum(params)
        flops = [flops_of.get((layer.name, e), 0.0) for e in range(layer.num_experts)]
        costs.append(LayerCost(layer.name, layer.top_k, params, flops))
    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total_flops = sum(flops_of.values())
    return Complexity(
        params=params,
        trainable_params=trainable,
        frozen_params=params - trainable,
        flops=total_flops,
        base_params=params - expert_param_total,
        base_flops=flops_of.get(None, 0.0),
        layers=costs,
    )
