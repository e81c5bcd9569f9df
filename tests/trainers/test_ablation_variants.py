"""benchmarks/routing_ablation.py's variants: each builds, and each with standardising routers names its balance loss, so
the README's ablation commands keep training what their tables measured when ``auto``'s choice changes."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from edge_moe.models.registry import create_model
from edge_moe.moe import moe_layers
from edge_moe.moe.losses import standardises_logits

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from routing_ablation import VARIANTS  # noqa: E402


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variant_builds_and_names_its_balance_loss_where_its_routers_standardise(name):
    model_name, moe_options, train_options = VARIANTS[name]
    routers = [layer.router for layer in moe_layers(create_model(model_name, imgsz=64, moe=moe_options))]
    if routers and standardises_logits(routers):
        assert train_options.get("balance_loss", "auto") != "auto"
