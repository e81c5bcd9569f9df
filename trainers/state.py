"""Resume state as plain types and tensors, so checkpoints load with ``torch.load(weights_only=True)``."""
from __future__ import annotations

import random
from typing import Any, Optional

import numpy as np
import torch



def rng_state() -> dict[str, Any]:
    version, state, gauss = random.getstate()
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "python": [version, list(state), gauss],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]), int(np_state[3]), float(np_state[4])],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    version, values, gauss = state["python"]
    random.setstate((version, tuple(values), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def current_train_state(epoch: int, iteration: int, best_fitness: float, history: list[dict], model, optimizer, ema) -> dict[str, Any]:
    """What ``last.pt`` carries under ``"train_state"`` so ``--resume`` continues exactly."""
    return {
        "epoch": epoch,
        "iteration": iteration,
        "best_fitness": best_fitness,
        "history": history,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "ema": ema.state_dict(),
        "rng": rng_state(),
    }


def restore_train_state(saved: Optional[dict], model, optimizer, ema, last_path, epochs: int) -> tuple[int, int, float, list[dict]]:
    """Loads a resumed run's state into model, optimiser, EMA and the RNGs; returns (epoch, iteration, best fitness,
    history), ``(0, 0, -1.0, [])`` for a fresh run."""
    if saved is None:
        return 0, 0, -1.0, []
    state = saved["train_state"]
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    ema.load_state_dict(state["ema"])
    set_rng_state(state["rng"])  # train()'s resume check has refused a finished run that is not extended
    return state["epoch"], state["iteration"], state["best_fitness"], list(state["history"])
