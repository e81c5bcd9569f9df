"""Auxiliary MoE losses that keep routing balanced and the router numerically tame."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor, nn

from edge_moe.moe.routing import Routing


def global_counts(counts: Tensor) -> Tensor:
    """Per-expert counts summed over every rank of a torch.distributed run (the global batch), so balancing does not
    depend on the per-process batch; the counts themselves in a one-process run. Not differentiable."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return counts
    total = counts.detach().clone()
    dist.all_reduce(total)
    return total


def expert_load(routing: Routing) -> Tensor:
    """(E,) top-K selections per expert in the batch (the global batch of a distributed run); not differentiable."""
    return global_counts(torch.zeros_like(routing.probs).scatter(1, routing.ids, 1.0).sum(dim=0))


def load_balance_loss(routing: Routing) -> Tensor:
    """Switch/GShard balance loss ``E * sum_e f_e * P_e``, 1.0 for uniform routing.

    ``f_e`` is the fraction of top-K assignments that went to expert ``e`` (not differentiable),
    ``P_e`` the mean router probability of ``e`` (carries the gradient). A collapsed router that
    sends everything to one expert with probability ~1 scores ~E. In a distributed run ``f_e`` counts the global
    batch; ``P_e`` stays this rank's mean, and DDP's gradient average makes it the global one.
    """
    num_experts = routing.num_experts
    counts = expert_load(routing)  # (E,)
    fraction = counts.detach() / counts.sum().clamp(min=1)  # (E,), sums to 1
    mean_prob = routing.probs.mean(dim=0)  # (E,)
    return num_experts * (fraction.detach() * mean_prob).sum()


def cv_squared(values: Tensor) -> Tensor:
    """Squared coefficient of variation; 0 for equal values."""
    values = values.float()
    if values.numel() <= 1:
        return values.new_zeros(())
    return values.var(unbiased=False) / (values.mean() ** 2 + 1e-10)


def importance_loss(routing: Routing) -> Tensor:
    """Shazeer's importance loss: cv^2 of the summed gate values per expert."""
    return cv_squared(routing.dense_weights().sum(dim=0))


def load_loss(routing: Routing) -> Tensor:
    """Shazeer's load loss: cv^2 of the smooth load estimate (noisy gating), else of the hard counts."""
    if routing.load is not None:
        return cv_squared(routing.load)
    return cv_squared(expert_load(routing))


CONDITIONAL_ENTROPY_WEIGHT = 0.5  # at 1 (the plain mutual information) confident routers got stuck sharing an expert


def mutual_information_loss(routing: Routing) -> Tensor:
    """``(w * mean_i H(p_i) - H(mean_i p_i)) / log E`` with ``w`` = 1/2: minus the image-expert mutual information with
    its per-image half damped; -1 when every image is sure of its expert and the batch uses all experts equally,
    -1/2 for uniform probabilities, 0 for a confident collapse.

    Unlike a balance loss (met by uniform probabilities) or the selection bias (met by moving the whole batch from
    expert to expert over the steps), it is minimal only for confident routers that split the batch evenly, i.e.
    that route by what the image shows. With ``w`` = 1 a router that had become sure of one expert for two kinds of
    image could not split them (every way out first costs confidence); at 1/2 it can. Computed per process (the
    batch marginal of its own images).
    """
    probs = routing.probs.float()  # (B, E)
    per_image = -(probs * probs.clamp(min=1e-12).log()).sum(dim=-1).mean()
    marginal = probs.mean(dim=0)  # (E,)
    of_batch = -(marginal * marginal.clamp(min=1e-12).log()).sum()
    return (CONDITIONAL_ENTROPY_WEIGHT * per_image - of_batch) / math.log(routing.num_experts)


def router_z_loss(routing: Routing) -> Tensor:
    """ST-MoE router z-loss: mean squared log-sum-exp of the logits, keeps logits small."""
    return torch.logsumexp(routing.logits.float(), dim=-1).pow(2).mean()


Z_LOSS = 1e-3  # ST-MoE's router z-loss weight


@dataclass(frozen=True)
class MoELossWeights:
    """Coefficient of each auxiliary loss; 0 switches a term off."""

    balance: float = 0.2
    importance: float = 0.0
    load: float = 0.0
    mutual_information: float = 0.0
    z: float = Z_LOSS


BALANCE_LOSSES = ("auto", "switch", "cv2", "mi", "none")


def standardises_logits(routers: Sequence[nn.Module]) -> bool:
    """Whether the routers standardise their logits over the batch (``router_logit_norm``): the default model's do."""
    return any(getattr(router, "standardises_logits", False) for router in routers)


def default_z_loss(routers: Sequence[nn.Module]) -> float:
    """:data:`Z_LOSS`, or 0 for routers that standardise their logits over the batch: those logits are bounded already,
    and the z-loss, smallest for all-zero logits, pulls them to uniform routing (measured: docs/routing.md)."""
    return 0.0 if standardises_logits(routers) else Z_LOSS


def auto_balance_loss(routers: Sequence[nn.Module], mi_for_standardised: bool = True) -> str:
    """The balance loss ``auto`` trains ``routers`` with: mi for routers that standardise their logits over the batch
    (with the colour jitter closed for the last epochs it routed healthiest of every recipe measured: docs/routing.md),
    else none for bias-balanced routers (the auxiliary-loss-free bias balances them), else switch.
    ``mi_for_standardised=False`` is the rule before the tenth session (2026-11-24), for runs saved with ``auto`` then."""
    if mi_for_standardised and standardises_logits(routers):
        return "mi"
    return "none" if any(getattr(router, "bias_rate", 0.0) > 0 for router in routers) else "switch"


def balance_loss_weights(balance: str, z: float = Z_LOSS) -> MoELossWeights:
    """The auxiliary terms of one balance recipe: ``switch`` (Switch/GShard), ``cv2`` (Shazeer's importance + load
    cv^2), ``mi`` (the image-expert mutual information, :func:`mutual_information_loss`) or ``none``
    (:func:`auto_balance_loss` picks one for ``auto``). ``z`` weighs the router z-loss."""
    if balance == "switch":
        return MoELossWeights(balance=1.0, z=z)
    if balance == "cv2":
        return MoELossWeights(balance=0.0, importance=1.0, load=1.0, z=z)
    if balance == "mi":
        return MoELossWeights(balance=0.0, mutual_information=1.0, z=z)
    if balance == "none":
        return MoELossWeights(balance=0.0, z=z)
    concrete = ", ".join(name for name in BALANCE_LOSSES if name != "auto")
    raise ValueError(f"balance loss must be one of {concrete}, got {balance!r}")


def moe_aux_loss(routings: Sequence[Routing], weights: MoELossWeights = MoELossWeights()) -> Tensor:
    """Weighted sum of the auxiliary losses, averaged over MoE layers (0 for a dense model)."""
    if not routings:
        return torch.zeros(())
    terms = []
    for routing in routings:
        total = weights.balance * load_balance_loss(routing)
        if weights.importance:
            total = total + weights.importance * importance_loss(routing)
        if weights.load:
            total = total + weights.load * load_loss(routing)
        if weights.mutual_information:
            total = total + weights.mutual_information * mutual_information_loss(routing)
        if weights.z:
            total = total + weights.z * router_z_loss(routing)
        terms.append(total)
    return torch.stack(terms).mean()
