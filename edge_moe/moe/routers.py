"""Routers: the YOLO-Master per-image router (with the routing remedies) and Shazeer's noisy top-k gate."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from edge_moe.moe.router_inputs import BatchStandardize, router_input
from edge_moe.moe.routing import Routing, top_k_route


class ImageRouter(nn.Module):
    """Per-image router from YOLO-Master: pool -> 1x1 conv C->max(C/8, 8) -> SiLU -> 1x1 conv -> E logits.

    The remedies for weak routing (measured in ``benchmarks/routing_ablation.py``), all off by default:
    ``pool`` what the router sees (:mod:`edge_moe.moe.router_inputs`); ``norm`` standardises it over the
    batch (:class:`~edge_moe.moe.router_inputs.BatchStandardize`); ``logit_norm`` standardises each expert's logit
    over the batch, with no learned shift: every expert has the same mean logit, so each leads for the images it
    scores highest relative to the others, batch by batch rather than over the steps like the bias; ``temperature``
    divides the logits (below 1 the router commits to its choice); ``jitter`` (Gaussian noise std) and
    ``expert_dropout`` (probability of hiding an expert) perturb which experts are selected while
    training only; ``detach`` stops the routers' gradients at their input, so the balance loss and the routing
    weights train the routers alone and the backbone learns from the task loss only; ``bias_rate`` > 0 adds
    DeepSeek-V3's auxiliary-loss-free balancing bias, a buffer added to the selection scores only
    (:func:`edge_moe.moe.update_selection_bias` moves it). ``bias_scores`` says to what: ``standardised`` logits (zero
    mean, unit std per image: a scale the router cannot grow, like DeepSeek-V3's bounded sigmoid affinities, without
    the softmax squeezing the unlikely experts together) or ``logits`` (unbounded: in a 25-epoch run the logits outgrew
    biases of +-15 and an expert stayed dead; kept for checkpoints trained that way).
    Everything that acts in eval is inside ``forward``, so exported graphs route like torch eval.

    Returns ``(B, E)`` logits, or ``(logits, selection scores)`` when the selection differs from the logits.
    """

    def __init__(self, channels: int, num_experts: int, pool: str = "gap", temperature: float = 1.0, jitter: float = 0.0,
                 expert_dropout: float = 0.0, bias_rate: float = 0.0, norm: bool = False, bias_scores: str = "standardised",
                 logit_norm: bool = False, detach: bool = False):
        super().__init__()
        self.pool, pooled = router_input(pool, channels)
        self.norm = BatchStandardize(pooled) if norm else nn.Identity()
        hidden = max(channels // 8, 8)
        self.reduce = nn.Conv2d(pooled, hidden, 1)
        self.act = nn.SiLU()
        self.logits = nn.Conv2d(hidden, num_experts, 1)
        self.logit_norm = BatchStandardize(num_experts, affine=False) if logit_norm else nn.Identity()
        self.temperature = temperature
        self.jitter = jitter
        self.expert_dropout = expert_dropout
        self.bias_rate = bias_rate
        self.bias_scores = bias_scores
        self.detach = detach
        if bias_rate > 0:
            self.register_buffer("selection_bias", torch.zeros(num_experts))

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        if self.detach:
            x = x.detach()
        logits = self.logit_norm(self.logits(self.act(self.reduce(self.norm(self.pool(x)))))).flatten(1)  # (B, E)
        if self.temperature != 1.0:
            logits = logits / self.temperature
        selection = logits
        if self.bias_rate > 0:
            scores = standardised(logits) if self.bias_scores == "standardised" else logits  # (B, E)
            selection = scores + self.selection_bias
        if self.training:
            selection = perturb_selection(selection, self.jitter, self.expert_dropout)
        return logits if selection is logits else (logits, selection)

    @property
    def standardises_logits(self) -> bool:
        return isinstance(self.logit_norm, BatchStandardize)


def standardised(logits: Tensor) -> Tensor:
    """(B, E) logits shifted and scaled to zero mean and unit std per image: the same order and relative gaps, on a
    scale the router cannot grow."""
    centred = logits - logits.mean(dim=-1, keepdim=True)
    return centred / (centred.pow(2).mean(dim=-1, keepdim=True) + 1e-6).sqrt()


def perturb_selection(scores: Tensor, jitter: float, dropout: float) -> Tensor:
    """Training-only selection noise: Gaussian jitter of std ``jitter`` and, with probability ``dropout`` per image and
    expert, the expert hidden from the selection (it can still be chosen when fewer than K remain)."""
    if jitter > 0:
        scores = scores + torch.randn_like(scores) * jitter
    if dropout > 0:
        hidden = torch.rand_like(scores) < dropout  # (B, E)
        scores = scores.masked_fill(hidden, -1e4)
    return scores


class NoisyTopKGate(nn.Module):
    """Noisy top-k gating (Shazeer et al. 2017, arXiv 1701.06538) over a feature vector.

    While training, Gaussian noise with a learned std (softplus(x w_noise) + 1e-2) changes only WHICH
    experts are selected; the weights that mix them are the clean logits' softmax over the selected
    experts, renormalised (as :func:`top_k_route` documents), and a smooth estimate of each expert's
    load is returned for the load loss. In eval there is no noise: the clean logits decide, so eval
    output is a deterministic function of the weights.
    """

    def __init__(self, in_features: int, num_experts: int, top_k: int, name: str = "gate"):
        super().__init__()
        if not 1 <= top_k <= num_experts:
            raise ValueError(f"top_k must be in [1, {num_experts}] (num_experts), got {top_k}")
        self.name = name
        self.top_k = top_k
        self.w_gate = nn.Linear(in_features, num_experts, bias=False)
        self.w_noise = nn.Linear(in_features, num_experts, bias=False)
        # Near-uniform routing at start. Shazeer zero-initialises w_gate, but all-equal logits tie, and
        # PyTorch and ONNX Runtime break top-k ties differently: tiny random logits keep them apart.
        nn.init.normal_(self.w_gate.weight, std=0.01)
        nn.init.zeros_(self.w_noise.weight)

    def forward(self, x: Tensor) -> Routing:
        clean = self.w_gate(x)  # (B, E)
        if not self.training:
            probs, ids, weights = top_k_route(clean, self.top_k)
            return Routing(self.name, clean, probs, ids, weights)
        noise_std = F.softplus(self.w_noise(x)) + 1e-2  # (B, E)
        noisy = clean + torch.randn_like(clean) * noise_std
        probs, ids, weights = top_k_route(clean, self.top_k, selection_logits=noisy)
        load = self._smooth_load(clean, noisy, noise_std)
        return Routing(self.name, clean, probs, ids, weights, load=load)

    def _smooth_load(self, clean: Tensor, noisy: Tensor, noise_std: Tensor) -> Tensor:
        """P(expert e stays in the top-k when only its own noise is resampled), summed over the batch."""
        num_experts = clean.shape[-1]
        if self.top_k >= num_experts:
            return torch.full((num_experts,), float(clean.shape[0]), device=clean.device)
        top_values = noisy.topk(self.top_k + 1, dim=-1).values  # (B, k+1)
        threshold_in = top_values[:, self.top_k : self.top_k + 1]  # k+1-th value: bar to enter
        threshold_out = top_values[:, self.top_k - 1 : self.top_k]  # k-th value: bar to stay
        is_in = noisy > threshold_in
        normal_cdf = lambda z: 0.5 * (1 + torch.erf(z / math.sqrt(2)))  # noqa: E731
        prob_if_in = normal_cdf((clean - threshold_in) / noise_std)
        prob_if_out = normal_cdf((clean - threshold_out) / noise_std)
        return torch.where(is_in, prob_if_in, prob_if_out).sum(dim=0)  # (E,)
