"""Classifier zoo: the MoE X-ray classifier of its source paper, a CPU-sized pico version and their dense twins."""
from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

from edge_moe.models.config import ConfigError
from edge_moe.models.registry import register_model
from edge_moe.models.xray import XrayClassifier, XrayConfig

PAPER = XrayConfig(name="xray")  # ConvNeXt-XXLarge stage0 + stage1, E=10, K=3, 384 px
PICO = XrayConfig(name="pico", num_classes=5, imgsz=96, widths=(32, 64), depths=(1, 2), experts=4, top_k=2, expert_dim=32)


def _create(name: str, base: XrayConfig, dense: bool, **overrides: Any) -> XrayClassifier:
    known = {f.name for f in fields(XrayConfig)} - {"name", "task"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(f"unknown XrayConfig field(s) {unknown} for {name}; allowed: {sorted(known)}")
    cfg = replace(base, name=name, **overrides)
    return XrayClassifier(replace(cfg, experts=0) if dense else cfg)


def classifier_from_config(config: dict[str, Any]) -> XrayClassifier:
    """Rebuilds a classifier from ``XrayConfig.to_dict()`` (as stored in checkpoints)."""
    return XrayClassifier(XrayConfig.from_dict(config))


@register_model("xray-moe", task="classify")
def xray_moe(**kw: Any) -> XrayClassifier:
    """MoE X-ray classifier as in its paper: ConvNeXt-XXLarge stages 0-1 + frozen ResNet18 branch, E=10, K=3."""
    return _create("xray-moe", PAPER, False, **kw)


@register_model("xray-dense", task="classify")
def xray_dense(**kw: Any) -> XrayClassifier:
    """Dense twin of xray-moe: the same ConvNeXt trunk, no MoE branch."""
    return _create("xray-dense", PAPER, True, **kw)


@register_model("xray-moe-pico", task="classify")
def xray_moe_pico(**kw: Any) -> XrayClassifier:
    """Tiny MoE X-ray classifier for a 2-core CPU (widths 32/64, E=4, K=2, 96 px)."""
    return _create("xray-moe-pico", PICO, False, **kw)


@register_model("xray-dense-pico", task="classify")
def xray_dense_pico(**kw: Any) -> XrayClassifier:
    """Dense twin of xray-moe-pico: the same trunk, no MoE branch."""
    return _create("xray-dense-pico", PICO, True, **kw)
