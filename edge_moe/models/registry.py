"""Model registry in the style of timm: ``@register_model`` entry points, ``create_model``, ``list_models``."""
from __future__ import annotations

import difflib
from typing import Callable, Optional

from torch import nn

from edge_moe.errors import UserError

_ENTRYPOINTS: dict[str, Callable[..., nn.Module]] = {}
_TASKS: dict[str, str] = {}


def register_model(name: str, task: str = "detect") -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    def decorator(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _ENTRYPOINTS:
            raise ValueError(f"model {name!r} is registered twice")
        _ENTRYPOINTS[name] = fn
        _TASKS[name] = task
        return fn

    return decorator


FAMILIES = ("edge_moe.models.detectors", "edge_moe.models.classifiers", "edge_moe.models.ensembles")  # listing order


def list_models(task: Optional[str] = None) -> list[str]:
    """Registered model names, optionally only those of one ``task`` (``detect``, ``classify``): family by family
    in ``FAMILIES`` order, each in its registration order, whatever order the families were imported in."""
    _load_families()

    def family(name: str) -> int:
        module = _ENTRYPOINTS[name].__module__
        return FAMILIES.index(module) if module in FAMILIES else len(FAMILIES)

    return [name for name in sorted(_ENTRYPOINTS, key=family) if task is None or _TASKS[name] == task]


class UnknownModelError(UserError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def create_model(name: str, **overrides) -> nn.Module:
    """Builds a registered model; keyword overrides go to its config (``num_classes``, ``imgsz``, ...)."""
    _load_families()
    if name not in _ENTRYPOINTS:
        close = difflib.get_close_matches(name, list(_ENTRYPOINTS), n=3, cutoff=0.4)
        hint = f" did you mean {', '.join(close)}?" if close else ""
        raise UnknownModelError(f"unknown model {name!r};{hint} run `edge-moe models` for the list")
    return _ENTRYPOINTS[name](**overrides)


def model_task(name: str) -> str:
    """The task (``detect``, ``classify``) of a registered model."""
    _load_families()
    if name not in _TASKS:
        create_model(name)  # raises the "unknown model" error with suggestions
    return _TASKS[name]


def _load_families() -> None:
    # Importing a family module runs its @register_model decorators.
    from edge_moe.models import classifiers, detectors, ensembles  # noqa: F401


def model_from_config(config: dict) -> nn.Module:
    """Rebuilds a model of any family from its ``config.to_dict()`` (as stored in checkpoints)."""
    from edge_moe.models.classifiers import classifier_from_config
    from edge_moe.models.detectors import detector_from_config
    from edge_moe.models.ensembles import yolo_moe_from_config
    from edge_moe.models.yolo_moe import FAMILY

    if config.get("family") == FAMILY:
        return yolo_moe_from_config(config)
    return classifier_from_config(config) if config.get("task") == "classify" else detector_from_config(config)


def describe_models() -> list[dict]:
    """One row per registered model: name, default imgsz, experts, top_k and its docstring's first line."""
    rows = []
    for name in list_models():
        model = create_model(name)
        layers = model.program().moe_layers
        doc = (_ENTRYPOINTS[name].__doc__ or "").strip().splitlines()
        rows.append(
            {
                "name": name,
                "task": model.config.task,
                "imgsz": model.config.imgsz,
                "experts": layers[0].num_experts if layers else 0,
                "top_k": layers[0].top_k if layers else 0,
                "description": doc[0] if doc else "",
            }
        )
    return rows
