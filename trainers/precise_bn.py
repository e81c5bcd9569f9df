"""Precise BatchNorm statistics for the weights we validate and ship (Wu & Johnson, "Rethinking 'Batch' in
BatchNorm", 2021; detectron2's PreciseBN hook).

A BatchNorm's running statistics are a moving average over earlier steps, computed with earlier weights, and the EMA
weights average them once more. In the first epochs the weights move faster than that average follows, and a
router that standardises its logits over the batch (``router_logit_norm``) amplifies the lag: its logits differ
between images by far less than they drift between steps, so stale statistics put one expert first for every image.
Every default-model run validated its first epoch with all images on one expert per layer, while the same weights in
train mode spread them over all four. Recomputing the statistics for the current weights, on training batches,
before each validation makes eval (and the exported graphs) route as training does.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from edge_moe.data.loader import collate_train
from edge_moe.moe import moe_execution


@torch.no_grad()
def recompute_batchnorm_statistics(model: nn.Module, batches: Iterable[torch.Tensor]) -> int:
    """Replaces every BatchNorm's running mean and variance by their average over ``batches`` (B, 3, S, S in [0, 1]).

    The rest of the model runs as in eval (hard top-K routing, no selection noise), so the statistics are those of
    the network that validation and the exports run, except that every expert computes every image, weighted 0 where
    it was not chosen, as in training: its BatchNorm normalises the whole batch, which is what the layers after it
    learnt against (README, "Routing regimes and BatchNorm"). BatchNorms the model keeps in eval while training
    (frozen parts) keep theirs. Returns the number of batches seen (0 leaves the model as it was).
    """
    was_training = model.training
    model.train()  # the model's own rule for what trains: a frozen part (yolo-moe's experts) stays in eval, keeping its statistics
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats and m.training]
    if not norms:
        model.train(was_training)
        return 0
    saved = [(m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone(), m.momentum) for m in norms]
    model.eval()
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average over the batches
        norm.train()
    seen = 0
    with moe_execution(model, "dense"):
        for images in batches:
            model(images)
            seen += 1
    for norm, (mean, var, count, momentum) in zip(norms, saved):
        norm.momentum = momentum
        if seen == 0:
            for buffer, value in ((norm.running_mean, mean), (norm.running_var, var), (norm.num_batches_tracked, count)):
                buffer.copy_(value)
    model.train(was_training)
    return seen


def training_batches(dataset: Dataset, images: int, batch: int, seed: int, epoch: int, device: str) -> Iterable[torch.Tensor]:
    """``images`` training images (augmented as in this epoch) in batches of ``batch``, (B, 3, S, S) floats in [0, 1].

    The same images on every rank of a distributed run (seeded by ``seed`` and ``epoch``), so every rank computes the
    same statistics without communicating. Batches of one image are skipped: they have no spread to measure.
    """
    order = np.random.default_rng([seed, epoch, 1]).permutation(len(dataset))[:images]
    for start in range(0, len(order), batch):
        chosen = order[start:start + batch]
        if len(chosen) < 2:
            break
        stacked, _ = collate_train([dataset[int(i)] for i in chosen])
        yield stacked.to(device, memory_format=torch.channels_last).float() / 255.0
