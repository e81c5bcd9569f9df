"""What every training loop (detection, classification) shares: the optimiser, EMA and resume state of one run,
and the files each epoch writes (``last.pt``, ``best.pt``, results.csv, plots)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from edge_moe.checkpoint import save_checkpoint
from edge_moe.trainers.config import TrainConfig
from edge_moe.trainers.distributed import World, wrap_model
from edge_moe.trainers.ema import ModelEMA
from edge_moe.trainers.optim import build_optimizer
from edge_moe.trainers.plots import write_csv
from edge_moe.trainers.state import current_train_state, restore_train_state

PLOT_EVERY = 5  # epochs between PNG refreshes (plotting costs ~1 s on a 2-core CPU); always at the end


def weight_paths(out: Path) -> tuple[Path, Path]:
    """``last.pt`` (every epoch, with the resume state) and ``best.pt`` (the best fitness so far) of the run in ``out``."""
    return out / "weights" / "last.pt", out / "weights" / "best.pt"


@dataclass
class Run:
    """The model in training and everything ``--resume`` restores with it."""

    config: TrainConfig
    out: Path
    model: nn.Module
    trained: nn.Module  # what runs forward/backward: DDP around ``model`` in a distributed run
    optimizer: torch.optim.Optimizer
    ema: ModelEMA  # its weights are validated and shipped
    start_epoch: int
    iteration: int
    best_fitness: float
    history: list[dict]


def start_run(config: TrainConfig, out: Path, model: nn.Module, saved: dict | None, device: str, world: World) -> Run:
    """Optimiser and EMA for ``model`` (already on ``device``), restored from ``saved`` on resume, the DDP wrapper, and
    the run folder (rank 0 writes it)."""
    last_path, _ = weight_paths(out)
    optimizer = build_optimizer(model, config.optimizer, config.lr0, config.momentum, config.weight_decay, config.router_lr_mult)
    ema = ModelEMA(model, tau=config.ema_tau)
    start_epoch, iteration, best_fitness, history = restore_train_state(saved, model, optimizer, ema, last_path, config.epochs)
    ema.module.to(device)
    trained = wrap_model(model, world, device, config.sync_bn)
    if world.is_main:
        out.mkdir(parents=True, exist_ok=True)
    return Run(config, out, model, trained, optimizer, ema, start_epoch, iteration, best_fitness, history)


def banner(config: TrainConfig, data: str, train_images: int, val_images: int, classes: int, device: str) -> str:
    return (f"training {config.model} on {data} ({train_images} train / {val_images} val images, {classes} classes) "
            f"for {config.epochs} epochs at {config.imgsz}px, batch {config.batch}, {device}")


def save_epoch(run: Run, row: dict[str, Any], fitness: float, metrics: dict[str, float], names: list[str],
               plot: Callable[[list[dict], Path], Any]) -> None:
    """Rank 0's end of an epoch: the row joins the history; ``last.pt`` (with the resume state), ``best.pt`` when the
    fitness improved, results.csv, and every ``PLOT_EVERY`` epochs and at the last one ``plot(history, out)``."""
    epoch = row["epoch"]
    run.history.append(row)
    is_best = fitness > run.best_fitness
    run.best_fitness = max(run.best_fitness, fitness)
    train_state = current_train_state(epoch, run.iteration, run.best_fitness, run.history, run.model, run.optimizer, run.ema)
    meta = {"epoch": epoch, "metrics": metrics, "config": run.config.to_dict()}
    last_path, best_path = weight_paths(run.out)
    save_checkpoint(last_path, run.ema.module, names, extra={"train": meta, "train_state": train_state})
    if is_best:
        save_checkpoint(best_path, run.ema.module, names, extra={"train": meta})
    write_csv(run.history, run.out / "results.csv")
    if epoch % PLOT_EVERY == 0 or epoch == run.config.epochs:
        plot(run.history, run.out)
