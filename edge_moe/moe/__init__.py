"""Mixture-of-Experts core: routing, routers, MoE layers and auxiliary losses."""
from edge_moe.moe.balance_bias import update_selection_bias
from edge_moe.moe.layer import MoELayer, moe_execution, moe_layers, set_router_warmup
from edge_moe.moe.losses import (
    MoELossWeights,
    cv_squared,
    importance_loss,
    load_balance_loss,
    load_loss,
    moe_aux_loss,
    mutual_information_loss,
    router_z_loss,
)
from edge_moe.moe.routers import ImageRouter, NoisyTopKGate
from edge_moe.moe.routing import Routing, top_k_route

__all__ = [
    "ImageRouter",
    "MoELayer",
    "MoELossWeights",
    "NoisyTopKGate",
    "Routing",
    "cv_squared",
    "importance_loss",
    "load_balance_loss",
    "load_loss",
    "moe_aux_loss",
    "moe_execution",
    "moe_layers",
    "mutual_information_loss",
    "router_z_loss",
    "set_router_warmup",
    "top_k_route",
    "update_selection_bias",
]
