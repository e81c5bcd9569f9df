"""YOLO-MoE zoo: ensembles of the zoo's dense detectors behind a router, and building one from expert checkpoints.

``yolo-moe-X`` is the paper's router (every expert trunk runs, the heads are routed);
``yolo-moe-X-early`` routes on a cheap stem so an unchosen expert's whole detector is skipped.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from edge_moe.errors import UserError
from edge_moe.models.config import ConfigError
from edge_moe.models.detector import MoEDetector
from edge_moe.models.registry import create_model, register_model
from edge_moe.models.yolo_moe import FAMILY, YoloMoE, YoloMoEConfig

ENSEMBLE_FIELDS = ("experts", "router_width", "frozen")
EXPERT_FIELDS = ("num_classes", "imgsz", "use_dfl", "reg_max")


def _create(model_name: str, expert_model: str, router: str, detectors: Sequence[MoEDetector] = (), **overrides: Any) -> YoloMoE:
    """``overrides``: ensemble fields (``experts``, ``router_width``, ``frozen``) and expert fields (``num_classes``, ``imgsz``, ``use_dfl``, ``reg_max``)."""
    unknown = sorted(set(overrides) - set(ENSEMBLE_FIELDS) - set(EXPERT_FIELDS))
    if unknown:
        raise ConfigError(f"unknown field(s) {unknown} for {model_name}; allowed: {sorted(ENSEMBLE_FIELDS + EXPERT_FIELDS)}")
    ensemble = {k: v for k, v in overrides.items() if k in ENSEMBLE_FIELDS}
    expert = {k: v for k, v in overrides.items() if k in EXPERT_FIELDS}
    if not detectors:
        count = ensemble.get("experts", 2)
        if not isinstance(count, int) or count < 2:
            raise ConfigError(f"experts must be an integer >= 2 (an ensemble), got {count!r}")
        detectors = [create_model(expert_model, **expert) for _ in range(count)]
    ensemble["experts"] = len(detectors)
    cfg = YoloMoEConfig(name=model_name, expert=detectors[0].config, expert_model=expert_model, variant=router, **ensemble)
    return YoloMoE(cfg, detectors)


def yolo_moe_from_config(config: dict[str, Any]) -> YoloMoE:
    """Rebuilds an ensemble from ``YoloMoEConfig.to_dict()`` (weights are loaded by the caller)."""
    cfg = YoloMoEConfig.from_dict(config)
    return YoloMoE(cfg, [MoEDetector(cfg.expert) for _ in range(cfg.experts)])


@register_model("yolo-moe-pico")
def yolo_moe_pico(**kw: Any) -> YoloMoE:
    """YOLO-MoE (arXiv 2511.13344) of 2 yolo-pico experts, the paper's Hadamard-fusion router over their heads."""
    return _create("yolo-moe-pico", "yolo-pico", "paper", **kw)


@register_model("yolo-moe-pico-early")
def yolo_moe_pico_early(**kw: Any) -> YoloMoE:
    """yolo-moe-pico with a cheap stem router: an unchosen expert detector is skipped whole."""
    return _create("yolo-moe-pico-early", "yolo-pico", "early", **kw)


@register_model("yolo-moe-n")
def yolo_moe_n(**kw: Any) -> YoloMoE:
    """YOLO-MoE (arXiv 2511.13344) of 2 yolo-n experts, the paper's Hadamard-fusion router over their heads."""
    return _create("yolo-moe-n", "yolo-n", "paper", **kw)


@register_model("yolo-moe-n-early")
def yolo_moe_n_early(**kw: Any) -> YoloMoE:
    """yolo-moe-n with a cheap stem router: an unchosen expert detector is skipped whole."""
    return _create("yolo-moe-n-early", "yolo-n", "early", **kw)


def is_ensemble(model_name: str) -> bool:
    return model_name.startswith("yolo-moe-")


def ensemble_from_experts(model_name: str, paths: Sequence[str | Path], frozen: bool, imgsz: int) -> tuple[YoloMoE, list[str]]:
    """The ensemble ``model_name`` with the expert detectors of ``paths`` (trained with ``edge-moe train``).

    Returns ``(model, class names)``. Any file that cannot serve as an expert is a one-line ``UserError``
    naming the files and the mismatch.
    """
    from edge_moe.checkpoint import model_from_checkpoint

    listed = ", ".join(str(p) for p in paths)
    if len(paths) < 2:
        raise UserError(f"--experts {listed}: an ensemble needs at least 2 expert checkpoints (A.pt,B.pt), got {len(paths)}")
    expected = _expert_model(model_name)
    loaded = []
    for path in paths:
        try:
            model, payload = model_from_checkpoint(path)
        except UserError as error:
            raise UserError(f"--experts {error}") from None
        if payload["config"].get("family") == FAMILY or getattr(model.config, "moe", None) is not None and not model.config.moe.dense:
            raise UserError(f"--experts {path}: {payload['model']} is an MoE checkpoint; experts must be dense {expected} detectors")
        if payload["model"] != expected:
            raise UserError(f"--experts {path}: model {payload['model']!r}, but {model_name} takes {expected} experts")
        loaded.append((Path(path), model, payload))
    first_path, first, first_payload = loaded[0]
    for path, model, payload in loaded[1:]:
        for what, mine, theirs in (
            ("class names", first_payload["class_names"], payload["class_names"]),
            ("strides", first.config.strides, model.config.strides),
            ("image sizes", first.config.imgsz, model.config.imgsz),
            ("heads (use_dfl, reg_max)", (first.config.use_dfl, first.config.reg_max), (model.config.use_dfl, model.config.reg_max)),
        ):
            if _plain(mine) != _plain(theirs):
                raise UserError(f"--experts {listed}: {what} differ ({first_path}: {mine}, {path}: {theirs})")
    detectors = [replace_imgsz(model, imgsz) for _, model, _ in loaded]
    return _create(model_name, expected, _variant(model_name), detectors, frozen=frozen), list(first_payload["class_names"])


def replace_imgsz(detector: MoEDetector, imgsz: int) -> MoEDetector:
    """The detector with ``imgsz`` in its config (the network itself is size-agnostic)."""
    detector.config = replace(detector.config, imgsz=imgsz)
    return detector


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value


def _expert_model(model_name: str) -> str:
    return "yolo-pico" if model_name.startswith("yolo-moe-pico") else "yolo-n"


def _variant(model_name: str) -> str:
    return "early" if model_name.endswith("-early") else "paper"
