"""The classification training loop (the ``classify`` task): cross-entropy + the MoE importance and load losses.

Same machinery as the detector's loop: AdamW/SGD with warmup + cosine, EMA weights validated and
shipped, ``last.pt`` / ``best.pt`` written atomically every epoch, ``--resume``, results.csv and PNG
plots. A frozen module (the X-ray classifier's ResNet branch) stays frozen: its parameters have
``requires_grad=False`` so the optimiser never sees them, and its BatchNorm stays in eval mode.

MoE auxiliary loss: Shazeer's cv^2 importance and load losses, each weighted by ``moe_coef`` (the
original X-ray code has none, and nothing stops its gate from collapsing).

Distributed runs (torchrun): as the detector's loop (global batch split across ranks, DDP, rank 0 writes), except that
rank 0 alone validates, on the whole val set, while the others wait.
"""
from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from edge_moe.checkpoint import model_from_checkpoint
from edge_moe.data.classify_loader import ClassifyDataset
from edge_moe.data.imagefolder import load_image_folders
from edge_moe.errors import UserError
from edge_moe.metrics.classification import plot_confusion_matrix
from edge_moe.models import create_model
from edge_moe.moe import MoELossWeights, moe_aux_loss
from edge_moe.trainers.classify_eval import ClassifyResult, evaluate_classifier, format_classify_result
from edge_moe.trainers.config import ROUTER_TRAINING, TrainConfig
from edge_moe.trainers.distributed import GlobalBatchSampler, World, summed_over_ranks
from edge_moe.trainers.optim import lr_factor, schedule_steps, set_lr, settle_routers
from edge_moe.trainers.plots import plot_history
from edge_moe.trainers.run import banner, save_epoch, start_run, weight_paths
from edge_moe.trainers.state import seed_everything

LOSSES = ("ce", "moe")
METRICS = (("accuracy", "accuracy"), ("f1_macro", "macro-F1"))


def moe_loss_weights(coef: float) -> MoELossWeights:
    """Shazeer's importance and load losses, both at ``coef``; no Switch balance term, a small z-loss."""
    return MoELossWeights(balance=0.0, importance=coef, load=coef, z=1e-3)


def train_classifier(config: TrainConfig, saved: Optional[dict], device: str, out: Path, progress: bool, world: World = World()):
    from tqdm import tqdm

    from edge_moe.trainers.trainer import TrainResult

    config.refuse_unused(ROUTER_TRAINING, "trains with Shazeer's importance + load losses (--moe-coef) and no router warm-up")
    config.refuse_unused(("precise_bn",), "is a classifier: its validation uses the running BatchNorm statistics")
    seed_everything(config.seed)
    data = load_image_folders(config.data)
    names = data.names
    try:
        model = create_model(config.model, num_classes=len(names), imgsz=config.imgsz)
    except ValueError as error:
        raise UserError(f"--model {config.model}: {error}") from None
    model.to(device)
    run = start_run(config, out, model, saved, device, world)
    aux_weights = moe_loss_weights(config.moe_coef)
    dataset = ClassifyDataset(data.split("train"), config.imgsz, config.augment, config.seed)
    sampler = GlobalBatchSampler(len(dataset), config.batch, config.seed, world)
    total_steps, warmup = schedule_steps(len(dataset), config.batch, config.epochs, config.warmup_epochs)
    started = time.perf_counter()
    print(banner(config, data.spec, len(dataset), len(data.split("val")), len(names), device))

    for epoch in range(run.start_epoch, config.epochs):
        epoch_start = time.perf_counter()
        dataset.set_epoch(epoch)
        sampler.set_epoch(epoch)
        settle_routers(run.optimizer, epoch, config.router_lr_settle)
        loader = DataLoader(dataset, batch_sampler=sampler, num_workers=config.workers)
        model.train()
        sums = dict.fromkeys(LOSSES, 0.0)
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False, disable=not progress)
        for images, labels in bar:
            lr = config.lr0 * lr_factor(run.iteration, total_steps, warmup, config.lrf)
            set_lr(run.optimizer, lr)
            logits, routings = run.trained(images.to(device).float() / 255.0)  # (B, C)
            ce = F.cross_entropy(logits, labels.to(device))
            aux = moe_aux_loss(routings, aux_weights).to(ce.device)
            run.optimizer.zero_grad(set_to_none=True)
            (ce + aux).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip_grad)
            run.optimizer.step()
            run.ema.update(model)
            run.iteration += 1
            parts = {"ce": float(ce.detach()), "moe": float(aux.detach())}
            parts = {k: v / world.size for k, v in summed_over_ranks(parts, world).items()}  # means over equal shares
            for key in sums:
                sums[key] += parts[key]
            bar.set_postfix({k: f"{v:.3f}" for k, v in parts.items()}, refresh=False)
        if not world.is_main:
            continue  # rank 0 validates and writes; the others wait in the next epoch's first step
        result = evaluate_classifier(run.ema.module, data.split("val"), config.imgsz, batch=max(config.batch, 32), device=device, progress=progress)
        row = _history_row(epoch, lr, {k: v / max(len(loader), 1) for k, v in sums.items()}, result, time.perf_counter() - epoch_start)
        fitness = result.metrics["accuracy"] + 1e-3 * result.metrics["f1_macro"]
        save_epoch(run, row, fitness, {k: float(result.metrics[k]) for k in ("accuracy", "f1_macro")}, names,
                   partial(plot_history, losses=LOSSES, metrics=METRICS))
        tqdm.write(f"epoch {row['epoch']}/{config.epochs}  loss ce {row['ce']:.3f} moe {row['moe']:.3f}  |  "
                   f"accuracy {row['accuracy']:.4f} macro-F1 {row['f1_macro']:.4f}  ({row['seconds']:.0f} s)")
        for warning in result.warnings:
            tqdm.write(f"!!! ROUTING WARNING {warning}")

    last_path, best_path = weight_paths(out)
    if not world.is_main:
        return TrainResult(out, best_path, last_path, {}, run.history, time.perf_counter() - started)
    model, _ = model_from_checkpoint(best_path)
    result = evaluate_classifier(model.to(device), data.split("val"), config.imgsz, batch=max(config.batch, 32), device=device, progress=progress)
    plot_confusion_matrix(result.confusion, names, out / "confusion_matrix.png", f"{config.model}, {best_path.name} on val")
    print(format_classify_result(result, f"final validation of {best_path} (hard top-K):"))
    print(f"results: {out / 'results.csv'}, plots: {out}/*.png, weights: {best_path}, {last_path}")
    return TrainResult(out, best_path, last_path, result.to_dict(), run.history, time.perf_counter() - started)


def _history_row(epoch: int, lr: float, losses: dict[str, float], result: ClassifyResult, seconds: float) -> dict[str, Any]:
    row: dict[str, Any] = {"epoch": epoch + 1, "lr": lr, **losses}
    row.update({k: float(result.metrics[k]) for k in ("accuracy", "f1_macro", "ms_per_image")})
    for usage in result.usage:
        for e, share in enumerate(usage.share):
            row[f"usage:{usage.layer}:e{e}"] = float(share)
        row[f"entropy:{usage.layer}"] = usage.entropy
    row["seconds"] = seconds
    return row

