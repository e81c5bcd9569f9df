"""Detector zoo: ES-MoE detectors (YOLO-Master, arXiv 2512.23273) and their dense baselines.

Each preset is a config; ``_create_detector`` applies user overrides and builds the model.
The dense ``yolo-*`` baselines are the same networks with every ES-MoE block replaced by its K
experts always on, so ``esmoe-X`` and ``yolo-X`` have (almost) equal active compute.
"""
from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

from edge_moe.models.config import ConfigError, DetectorConfig, MoEConfig, lists_as_tuples
from edge_moe.models.detector import MoEDetector
from edge_moe.models.registry import register_model

# YOLO-Master's sweet spot (E=4, K=2, backbone) with the routing remedies that measured healthiest in
# benchmarks/routing_ablation.py (docs/routing.md): GAP+GMP router input, temperature 0.5 and
# DeepSeek-V3's auxiliary-loss-free bias balancing (TrainConfig.balance_loss "auto" then drops the Switch loss).
ES_MOE = MoEConfig(experts=4, top_k=2, expert_type="dwsep", router_input="gap+gmp", router_temperature=0.5, bias_rate=0.01)
DENSE = replace(ES_MOE, dense=True)

PICO = DetectorConfig(name="pico", num_classes=3, imgsz=256, widths=(8, 16, 32, 64, 96), depths=(1, 1, 1, 1))
NANO = DetectorConfig(name="n", widths=(16, 32, 64, 112, 208), depths=(1, 2, 2, 1))
SMALL = DetectorConfig(name="s", widths=(32, 64, 128, 256, 512), depths=(1, 2, 2, 1))


def _create_detector(name: str, base: DetectorConfig, preset_moe: MoEConfig, **overrides: Any) -> MoEDetector:
    """``overrides`` are DetectorConfig fields; ``moe={...}`` overrides MoEConfig fields."""
    moe_overrides = overrides.pop("moe", None) or {}
    for fields_of, given in ((DetectorConfig, overrides), (MoEConfig, moe_overrides)):
        known = {f.name for f in fields(fields_of)} - {"name", "moe"}
        unknown = sorted(set(given) - known)
        if unknown:
            raise ConfigError(f"unknown {fields_of.__name__} field(s) {unknown} for {name}; allowed: {sorted(known)}")
    cfg = replace(base, name=name, moe=replace(preset_moe, **lists_as_tuples(moe_overrides)), **lists_as_tuples(overrides))
    return MoEDetector(cfg)


def detector_from_config(config: dict[str, Any]) -> MoEDetector:
    """Rebuilds a detector from ``DetectorConfig.to_dict()`` (as stored in checkpoints and bundles)."""
    return MoEDetector(DetectorConfig.from_dict(config))


@register_model("esmoe-pico")
def esmoe_pico(**kw: Any) -> MoEDetector:
    """Tiny ES-MoE detector that trains on a 2-core CPU in minutes (3 classes, 256 px by default)."""
    return _create_detector("esmoe-pico", PICO, ES_MOE, **kw)


@register_model("esmoe-n")
def esmoe_n(**kw: Any) -> MoEDetector:
    """Mirrors YOLO-Master-N: E=4, K=2 depthwise-separable experts after P2..P5."""
    return _create_detector("esmoe-n", NANO, ES_MOE, **kw)


@register_model("esmoe-s")
def esmoe_s(**kw: Any) -> MoEDetector:
    """Small ES-MoE detector (twice the nano widths)."""
    return _create_detector("esmoe-s", SMALL, ES_MOE, **kw)


@register_model("esmoe-n-e8")
def esmoe_n_e8(**kw: Any) -> MoEDetector:
    """Capacity preset: E=8 bottleneck experts after P3..P5 carry most of the compute, K=2 run.

    Executing only the K selected experts more than halves the work per frame.
    """
    capacity = replace(ES_MOE, experts=8, expert_type="bottleneck", stages=(3, 4, 5))
    return _create_detector("esmoe-n-e8", NANO, capacity, **kw)


@register_model("esmoe-pico-e8")
def esmoe_pico_e8(**kw: Any) -> MoEDetector:
    """Capacity preset at pico scale: E=8 experts of yolo-pico's kernel sizes (3/5), K=2 run: its active GFLOPs, more parameters."""
    capacity = replace(ES_MOE, experts=8, kernel_sizes=(3, 5))
    return _create_detector("esmoe-pico-e8", PICO, capacity, **kw)


# The default model: DeepSeekMoE's shared expert next to K=1 routed, with the routing that measured best over three seeds
# in benchmarks/routing_ablation.py (docs/routing.md): the router's input and each expert's logit standardised
# over the batch, temperature 0.25; trained with the mutual-information balance loss and no z-loss for such routers
# (edge_moe.moe.losses.auto_balance_loss, default_z_loss).
PICO_SHARED = replace(ES_MOE, shared_experts=1, top_k=1, router_norm=True, router_logit_norm=True, router_temperature=0.25)


@register_model("esmoe-pico-shared")
def esmoe_pico_shared(**kw: Any) -> MoEDetector:
    """The default model: esmoe-pico with one always-on expert (kernel 3) next to K=1 of its 4 routed experts (3/5/7/9)."""
    return _create_detector("esmoe-pico-shared", PICO, PICO_SHARED, **kw)


@register_model("yolo-pico")
def yolo_pico(**kw: Any) -> MoEDetector:
    """Dense baseline of esmoe-pico: its ES-MoE blocks with K experts always on."""
    return _create_detector("yolo-pico", PICO, DENSE, **kw)


@register_model("yolo-n")
def yolo_n(**kw: Any) -> MoEDetector:
    """Dense baseline of esmoe-n: its ES-MoE blocks with K experts always on."""
    return _create_detector("yolo-n", NANO, DENSE, **kw)


@register_model("yolo-s")
def yolo_s(**kw: Any) -> MoEDetector:
    """Dense baseline of esmoe-s: its ES-MoE blocks with K experts always on."""
    return _create_detector("yolo-s", SMALL, DENSE, **kw)
