"""Checkpoints: atomic writes and safe loading (``torch.load(weights_only=True)``).

A checkpoint is a dict of plain types and tensors that carries everything ``info``, ``val`` and
``export`` need: the model name, its config, the class names and the weights (EMA weights when
training kept an EMA). Training adds its own resume state under ``"train_state"``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from edge_moe.errors import UserError, first_line
from edge_moe.runtime.sinks.atomic import atomic_write  # the one implementation; re-exported for callers here

__all__ = ["atomic_write", "load_checkpoint", "model_from_checkpoint", "save_checkpoint"]

FORMAT = "edge-moe-checkpoint"
VERSION = 1


def save_checkpoint(
    path: str | Path,
    model: Any,
    class_names: list[str],
    extra: Optional[dict[str, Any]] = None,
) -> Path:
    """Writes ``model`` (a detector or classifier) with its config and class names, atomically."""
    import torch

    payload = {
        "format": FORMAT,
        "version": VERSION,
        "model": model.config.name,
        "config": model.config.to_dict(),
        "class_names": list(class_names),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        **(extra or {}),
    }
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Loads and validates a checkpoint dict; any problem is a one-line ``UserError``."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle, zip and torch errors all mean "not a checkpoint"
        raise UserError(f"{path}: not an edge-moe checkpoint ({_load_failure(error)}); expected a .pt written by `edge-moe train`") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise UserError(f"{path}: not an edge-moe checkpoint (expected a dict with format={FORMAT!r})")
    if payload.get("version") != VERSION:
        raise UserError(f"{path}: checkpoint version {payload.get('version')!r} is not supported (expected {VERSION})")
    for key in ("model", "config", "class_names", "state_dict"):
        if key not in payload:
            raise UserError(f"{path}: checkpoint has no {key!r} field")
    return payload


def _load_failure(error: Exception) -> str:
    """Why torch.load refused a file, without torch's advice to turn ``weights_only`` off (never done here)."""
    text = str(error)
    if "WeightsUnpickler error:" in text:
        detail = text.split("WeightsUnpickler error:", 1)[1].strip().splitlines()[0].strip()
        return f"not a weights-only torch file: {detail}"
    line = first_line(error, 160)
    return f"not a torch file: {line.split('. ')[0] if len(line) > 3 else type(error).__name__}"


def model_from_checkpoint(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """Rebuilds the model of a checkpoint with its weights; returns ``(model, payload)``."""
    from edge_moe.models import model_from_config

    payload = load_checkpoint(path)
    try:
        model = model_from_config(payload["config"])
    except (TypeError, ValueError) as error:
        raise UserError(f"{path}: invalid model config in checkpoint: {error}") from None
    missing, unexpected = model.load_state_dict(payload["state_dict"], strict=False)
    if missing or unexpected:
        raise UserError(
            f"{path}: weights do not match model {payload['model']!r} "
            f"({len(missing)} missing, {len(unexpected)} unexpected tensors, e.g. {(missing or unexpected)[0]})"
        )
    return model.eval(), payload

