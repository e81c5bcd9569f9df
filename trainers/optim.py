"""Optimiser and learning-rate schedule: SGD (Nesterov) or AdamW, linear warmup then cosine decay.

Weight decay applies to conv/linear weights only, never to BatchNorm parameters or biases. Router
parameters get ``router_lr_mult`` times the learning rate: their logits start near zero and only a
weak signal reaches them through the renormalised top-K weights, so at the base rate routers stay
undecided (~uniform) for a short schedule; :func:`settle_routers` brings them to the base rate later.
The schedule is a pure function of the iteration number, so resuming needs only that number.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def build_optimizer(model: nn.Module, name: str, lr: float, momentum: float, weight_decay: float, router_lr_mult: float = 1.0) -> torch.optim.Optimizer:
    decay, no_decay, router = [], [], []
    for module_name, module in model.named_modules():
        for param_name, param in module.named_parameters(recurse=False):
            if not param.requires_grad:
                continue
            is_norm = isinstance(module, nn.modules.batchnorm._BatchNorm)
            if ".router" in f".{module_name}":
                router.append(param)
            else:
                (no_decay if is_norm or param_name == "bias" else decay).append(param)
    groups = [
        {"params": decay, "weight_decay": weight_decay, "lr_mult": 1.0},
        {"params": no_decay, "weight_decay": 0.0, "lr_mult": 1.0},
        {"params": router, "weight_decay": 0.0, "lr_mult": router_lr_mult, "routers": True},
    ]
    groups = [g for g in groups if g["params"]]
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=True)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=(momentum, 0.999))
    raise ValueError(f"optimizer must be 'sgd' or 'adamw', got {name!r}")


def schedule_steps(images: int, batch: int, epochs: int, warmup_epochs: float) -> tuple[int, int]:
    """(total iterations, warmup iterations) of a run: warmup lasts ``warmup_epochs`` but at least
    min(100, 10 % of the run) iterations (none when ``warmup_epochs`` is 0)."""
    steps_per_epoch = (images + batch - 1) // batch
    total = steps_per_epoch * epochs
    warmup = max(int(warmup_epochs * steps_per_epoch), min(100, total // 10)) if warmup_epochs else 0
    return total, warmup


def lr_factor(iteration: int, total: int, warmup: int, final: float) -> float:
    """Multiplier of the base lr: linear 0 -> 1 over ``warmup`` iterations, then cosine 1 -> ``final``."""
    if warmup and iteration < warmup:
        return (iteration + 1) / warmup
    progress = min(1.0, (iteration - warmup) / max(1, total - warmup))
    return final + (1 - final) * 0.5 * (1 + math.cos(math.pi * progress))


def warmup_share(iteration: int, warmup: int) -> float:
    """Router warm-up: the share of the full softmax in the MoE weights, 1 -> 0 linearly over ``warmup`` iterations."""
    return max(0.0, 1.0 - iteration / warmup) if warmup else 0.0


def settle_routers(optimizer: torch.optim.Optimizer, epoch: int, settle_epoch: int) -> None:
    """From ``settle_epoch`` on (1-based; 0: never) the routers learn at the base rate; ``epoch`` is 0-based. The next
    :func:`set_lr` applies it; called every epoch, so a resumed run settles too."""
    if settle_epoch and epoch + 1 >= settle_epoch:
        for group in optimizer.param_groups:
            if group.get("routers"):
                group["lr_mult"] = 1.0


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_mult", 1.0)
