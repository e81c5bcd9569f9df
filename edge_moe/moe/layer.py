"""A Mixture-of-Experts layer over feature maps or vectors, with soft (dense) and hard (sparse) execution.

Execution modes:
  - ``dense``: every expert runs on every image and the outputs are mixed with the top-K weights
    (zeros elsewhere). Used while training (gradients reach the router through the weights) and by
    the dense export lowering.
  - ``sparse``: only the K selected experts run, batched per expert. Used in eval.
Router warm-up (dense-to-sparse training, :func:`set_router_warmup`) blends the full softmax into the
dense weights for the first steps, so every expert learns from every image before routing turns hard.
Both compute ``sum_k weights[:, k] * expert[ids[:, k]](x)``, so they agree to float precision.
Shared experts (DeepSeekMoE's shared-expert isolation) run on every image next to the routed ones and are
averaged with the routed mixture as if it were one more expert.
Switch modes with the :func:`moe_execution` context manager, never with a global flag.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, Literal, Optional

import torch
from torch import Tensor, nn

from edge_moe.moe.routing import Routing, top_k_route

Execution = Literal["auto", "dense", "sparse"]


class MoELayer(nn.Module):
    """Routes each image to ``top_k`` of ``experts`` and mixes their outputs.

    ``router`` maps ``x`` to ``(B, E)`` logits, to ``(logits, selection scores)`` (the scores choose the experts, the
    logits' softmax weighs them), or (a gate that selects by itself, like
    :class:`~edge_moe.moe.NoisyTopKGate`) to a :class:`Routing`. ``post`` is applied to the mixture
    (e.g. BN + SiLU). Expert outputs may have any rank: the weights broadcast over ``(B, ...)``.
    ``forward`` returns ``(y, routing)``: routing is explicit, never kept in module state.
    ``shared`` experts always run: the mixture is ``(sum_s shared_s(x) + routed) / (S + 1)`` (:meth:`with_shared`).
    """

    def __init__(
        self,
        experts: list[nn.Module],
        router: nn.Module,
        top_k: int,
        post: Optional[nn.Module] = None,
        residual: bool = False,
        weight_floor: float = 0.0,
        shared: Optional[list[nn.Module]] = None,
    ):
        super().__init__()
        if not 1 <= top_k <= len(experts):
            raise ValueError(f"top_k must be in [1, {len(experts)}] (number of experts), got {top_k}")
        self.experts = nn.ModuleList(experts)
        self.shared = nn.ModuleList(shared or [])  # always on, outside the routing (and outside the expert graphs)
        self.router = router
        self.top_k = top_k
        self.post = post if post is not None else nn.Identity()
        self.residual = residual
        self.weight_floor = weight_floor  # selected experts' probabilities are raised to this before renormalising
        self.name = "moe"  # replaced by the model with its qualified module name
        self.execution: Execution = "auto"
        self.warmup_share = 0.0  # share of the full softmax blended into the dense weights (router warm-up)

    @property
    def num_experts(self) -> int:
        return len(self.experts)

    def route(self, x: Tensor, top_k: Optional[int] = None) -> Routing:
        logits = self.router(x)  # (B, E)
        if isinstance(logits, Routing):  # the gate selected the experts itself
            if top_k is not None and top_k != logits.top_k:
                raise ValueError(f"{self.name}: its gate routes to top_k={logits.top_k}, got {top_k}")
            logits.layer = self.name
            return logits
        selection = None
        if isinstance(logits, tuple):  # (logits, selection scores): the router biases or perturbs the choice
            logits, selection = logits
        probs, ids, weights = top_k_route(logits, top_k or self.top_k, selection_logits=selection, floor=self.weight_floor)
        return Routing(self.name, logits, probs, ids, weights)

    def mix(self, x: Tensor, routing: Routing) -> Tensor:
        """Runs the experts the routing selects (and the shared ones) and returns their mixture (before ``post``)."""
        mode = self.execution
        if mode == "auto":
            mode = "dense" if self.training else "sparse"
        if mode == "dense":
            weights = routing.dense_weights()  # (B, E)
            if self.warmup_share > 0:
                weights = (1 - self.warmup_share) * weights + self.warmup_share * routing.probs
            return self.with_shared(x, self._mix_dense(x, weights))
        return self.with_shared(x, self._mix_sparse(x, routing.ids, routing.weights))

    def with_shared(self, x: Tensor, routed: Tensor) -> Tensor:
        """The routed mixture averaged with the shared experts' outputs; the routed mixture itself without any."""
        if not self.shared:
            return routed
        return (sum(expert(x) for expert in self.shared) + routed) / (len(self.shared) + 1)

    def forward(self, x: Tensor) -> tuple[Tensor, Routing]:
        routing = self.route(x)
        y = self.post(self.mix(x, routing))
        return (x + y if self.residual else y), routing

    def _mix_dense(self, x: Tensor, dense_weights: Tensor) -> Tensor:
        # dense_weights: (B, E), zeros for unselected experts.
        out = 0
        for e, expert in enumerate(self.experts):
            y = expert(x)
            out = out + y * per_row(dense_weights[:, e], y)
        return out

    def _mix_sparse(self, x: Tensor, ids: Tensor, weights: Tensor) -> Tensor:
        # ids, weights: (B, K). One host sync for the whole layer, then one batched call per used expert.
        batch = x.shape[0]
        ids_host = ids.tolist()
        if batch == 1:
            row = ids_host[0]
            out = 0
            for k, e in enumerate(row):
                y = self.experts[e](x)
                out = out + y * per_row(weights[:, k], y)
            return out
        groups: dict[int, tuple[list[int], list[int]]] = {}
        for b, row in enumerate(ids_host):
            for k, e in enumerate(row):
                images, slots = groups.setdefault(e, ([], []))
                images.append(b)
                slots.append(k)
        out: Optional[Tensor] = None
        for e, (images, slots) in groups.items():
            index = torch.tensor(images, device=x.device)
            slot = torch.tensor(slots, device=x.device)
            y = self.experts[e](x.index_select(0, index))  # (n_e, C', H', W')
            y = y * per_row(weights[index, slot], y)
            if out is None:
                out = y.new_zeros((batch, *y.shape[1:]))
            out = out.index_add(0, index, y)
        return out


def per_row(weights: Tensor, like: Tensor) -> Tensor:
    """(B,) weights shaped to broadcast over ``like`` (B, ...) of any rank, in its dtype."""
    return weights.view(-1, *([1] * (like.dim() - 1))).to(like.dtype)


def moe_layers(model: nn.Module) -> list[MoELayer]:
    """All MoE layers of a model, in forward order of registration."""
    return [m for m in model.modules() if isinstance(m, MoELayer)]


@contextmanager
def moe_execution(model: nn.Module, mode: Execution) -> Iterator[nn.Module]:
    """Temporarily forces every MoE layer of ``model`` to ``dense`` or ``sparse`` execution."""
    if mode not in ("auto", "dense", "sparse"):
        raise ValueError(f"MoE execution must be 'auto', 'dense' or 'sparse', got {mode!r}")
    layers = moe_layers(model)
    saved = [layer.execution for layer in layers]
    for layer in layers:
        layer.execution = mode
    try:
        yield model
    finally:
        for layer, previous in zip(layers, saved):
            layer.execution = previous


def limit_top_k(model: nn.Module, top_k: int) -> None:
    """Routes every MoE layer of ``model`` to only ``top_k`` of its K experts from now on: the same
    renormalised top-K' that the runtime's ``--top-k`` runs."""
    layers = moe_layers(model)
    if not layers:
        raise ValueError("top_k applies to MoE models only; this model has no MoE layers")
    largest = min(layer.top_k for layer in layers)
    if not 1 <= top_k <= largest:
        raise ValueError(f"top_k must be in [1, {largest}] (the model's K), got {top_k}")
    for layer in layers:
        layer.top_k = top_k


def set_router_warmup(model: nn.Module, share: float) -> None:
    """Dense-to-sparse training: every MoE layer mixes ``share`` of the full softmax (all experts) into its top-K
    weights while it executes densely; 0 (the default) is plain top-K, eval and the exports are never affected."""
    if not 0 <= share <= 1:
        raise ValueError(f"router warm-up share must be in [0, 1], got {share}")
    for layer in moe_layers(model):
        layer.warmup_share = share


def name_moe_layers(model: nn.Module, rename: Callable[[str], str] = lambda n: n) -> None:
    """Gives every MoE layer its qualified module name, used to label routing outputs."""
    for name, module in model.named_modules():
        if isinstance(module, MoELayer):
            module.name = rename(name)
