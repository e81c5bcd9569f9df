"""DeepSeek-V3's auxiliary-loss-free load balancing (arXiv 2412.19437, section 2.1.2).

Each router with ``bias_rate`` > 0 keeps a per-expert bias that is added to the selection scores
only (never to the weights that mix the experts). After every optimiser step the bias of an
overloaded expert goes down by ``bias_rate`` and that of an underloaded one up: a sign update,
not a gradient, so balance is reached without a loss term that pulls every router towards
uniform probabilities.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from edge_moe.moe.layer import moe_layers
from edge_moe.moe.losses import expert_load
from edge_moe.moe.routing import Routing


@torch.no_grad()
def update_selection_bias(model: nn.Module, routings: Sequence[Routing]) -> None:
    """Moves each bias-balanced router's bias by ``bias_rate * sign(mean load - load)`` from this step's routing."""
    by_layer = {routing.layer: routing for routing in routings}
    for layer in moe_layers(model):
        rate = getattr(layer.router, "bias_rate", 0.0)
        routing = by_layer.get(layer.name)
        if rate <= 0 or routing is None:
            continue
        load = expert_load(routing)  # (E,)
        layer.router.selection_bias += rate * torch.sign(load.mean() - load)
