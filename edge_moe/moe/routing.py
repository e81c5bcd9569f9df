"""Top-K routing: the one function training, evaluation and every export lowering share.

The routing weights are the softmax probabilities of the K selected experts renormalised to sum to
one (equivalently a softmax over the K selected logits). Soft (all experts computed, weights masked)
and hard (only the K selected experts computed) execution use exactly these weights, so the two
agree to float precision.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor


@dataclass
class Routing:
    """The routing decision of one MoE layer for a batch.

    ``load`` is only set by noisy gating while training (Shazeer's smooth per-expert load estimate).
    """

    layer: str
    logits: Tensor  # (B, E) router logits (clean, before noise)
    probs: Tensor  # (B, E) softmax over all experts
    ids: Tensor  # (B, K) int64 expert ids, sorted by weight (descending)
    weights: Tensor  # (B, K) renormalised top-K weights, sum to 1 per row
    load: Optional[Tensor] = None  # (E,) smooth load estimate, noisy gating only

    @property
    def num_experts(self) -> int:
        return self.logits.shape[-1]

    @property
    def top_k(self) -> int:
        return self.ids.shape[-1]

    def dense_weights(self) -> Tensor:
        """(B, E) weights with zeros for the experts that were not selected."""
        return torch.zeros_like(self.probs).scatter(1, self.ids, self.weights)


def top_k_route(logits: Tensor, k: int, selection_logits: Optional[Tensor] = None, floor: float = 0.0) -> tuple[Tensor, Tensor, Tensor]:
    """Selects the top-``k`` experts per row and renormalises their probabilities.

    ``selection_logits`` (noisy logits while training noisy gating) choose the experts; the weights
    are always taken from ``logits``' own softmax so that gradients reach the router. ``floor`` > 0 raises
    a selected expert's probability to at least ``floor`` before renormalising, so an expert the selection
    scores chose is not run for a weight of ~0; the weights of any subset of slots, renormalised, are still
    the weights of routing to that subset (the runtime's K' <= K mask stays exact).
    Returns ``(probs (B, E), ids (B, k), weights (B, k))``.
    """
    num_experts = logits.shape[-1]
    if not 1 <= k <= num_experts:
        raise ValueError(f"top_k must be in [1, {num_experts}] (number of experts), got {k}")
    probs = logits.float().softmax(dim=-1)  # (B, E), router maths stays in FP32
    chooser = probs if selection_logits is None else selection_logits.float()
    ids = chooser.topk(k, dim=-1, sorted=True).indices  # (B, k)
    top = probs.gather(-1, ids)  # (B, k)
    if k == 1:
        # One expert: its renormalised weight is constantly 1 and would carry no gradient. 1 + p - stop_grad(p) is 1 too,
        # with the Switch Transformer's gradient (that of p * expert): the task loss reaches the router, damped by p
        # where the selection scores chose an expert the softmax does not want (an undamped one-hot - probs gradient
        # grew such routers' logits without bound).
        return probs, ids, (top - top.detach()) + 1  # exactly 1: p - p is 0 before the 1 is added
    if floor > 0:
        top = top.clamp(min=floor)
    weights = top / top.sum(dim=-1, keepdim=True)
    return probs, ids, weights
