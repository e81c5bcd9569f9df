"""The plan executor: runs a bundle's graphs in the order its plan says (torch-free).

Plan steps (``manifest["plan"]["steps"]``):

- ``{"run": GRAPH}``: run one graph; its inputs are taken from, and its outputs stored into, a
  dict of named tensors (``images`` is fed in, ``boxes`` / ``scores`` come out).
- ``{"experts": LAYER, "graphs": [one per expert], "input": X, "ids": IDS, "weights": W,
  "outputs": [Y0..Y{K-1}], "combine": "slots" | "mixed", "mixed": NAME}``: run only the experts
  the router chose (ids of slot k -> graph ``graphs[id]`` on ``X``). With ``combine="slots"`` the
  outputs go to the next graph, which mixes them; with ``"mixed"`` the executor mixes them here.

Dense bundles have one ``run`` step and a ``slot_masks`` map (layer -> input name): the graph
masks and renormalises the routing weights itself. Either way, ``top_k=K'`` keeps the first K' of
the exported K experts of every MoE layer and renormalises their weights.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from edge_moe.errors import UserError
from edge_moe.runtime.backends.base import GraphSession
from edge_moe.runtime.bundle import Bundle

OpenSession = Callable[[str, Path], GraphSession]


@dataclass
class LayerRouting:
    layer: str
    ids: np.ndarray  # (K',) int64 expert ids, by descending weight
    weights: np.ndarray  # (K',) float32, sum to 1


@dataclass
class PlanResult:
    boxes: Optional[np.ndarray]  # (1, A, 4) float32 xyxy in letterboxed-input pixels (detectors)
    scores: Optional[np.ndarray]  # (1, A, nc) float32 sigmoid class scores (detectors)
    routing: list[LayerRouting]
    outputs: dict[str, np.ndarray] = field(default_factory=dict)  # every named tensor (classifiers: logits, probs)


def renormalise(weights: np.ndarray, keep: int) -> np.ndarray:
    """(K,) weights -> (K,) with slots >= ``keep`` zeroed and the kept ones summing to 1."""
    out = np.zeros_like(weights)
    out[:keep] = weights[:keep] / weights[:keep].sum()
    return out


class PlanExecutor:
    """Runs a bundle (dense or sparse) through one :class:`GraphSession` per graph.

    ``open_session`` defaults to ONNX Runtime sessions from
    :func:`edge_moe.runtime.backends.select.session_opener`.
    """

    def __init__(self, bundle: Bundle, open_session: Optional[OpenSession] = None):
        from edge_moe.runtime.backends.select import session_opener

        self.bundle = bundle
        opener = open_session or session_opener(bundle, "onnxruntime")
        self.sessions: dict[str, GraphSession] = {name: opener(name, bundle.graph_path(name)) for name in bundle.graphs}
        self.steps = bundle.plan["steps"]
        self.slot_masks: dict[str, str] = bundle.plan.get("slot_masks", {})
        self.layers = bundle.moe_layers
        self.input_shape = tuple(bundle.manifest["input"]["shape"])
        self._zeros: dict[tuple, np.ndarray] = {}

    @property
    def max_top_k(self) -> int:
        return min((layer["top_k"] for layer in self.layers), default=0)

    def __call__(self, images: np.ndarray, top_k: Optional[int] = None) -> PlanResult:
        if images.shape != self.input_shape:
            raise UserError(f"plan input must have shape {list(self.input_shape)}, got {list(images.shape)}")
        keep = self.top_k_per_layer(top_k)
        env: dict[str, np.ndarray] = {"images": np.ascontiguousarray(images, dtype=np.float32)}
        for layer in self.layers:
            if layer["name"] in self.slot_masks:
                mask = np.zeros((1, layer["top_k"]), np.float32)
                mask[:, : keep[layer["name"]]] = 1.0
                env[self.slot_masks[layer["name"]]] = mask
        for step in self.steps:
            if "run" in step:
                env.update(self._run(step["run"], env))
            else:
                self._run_experts(step, env, keep[step["experts"]])
        routing = []
        for layer in self.layers:
            name, k = layer["name"], keep[layer["name"]]
            ids = env[f"{name}.ids"].reshape(-1)[:k].astype(np.int64)
            weights = renormalise(env[f"{name}.weights"].reshape(-1).astype(np.float32), k)[:k]
            routing.append(LayerRouting(name, ids, weights))
        return PlanResult(env.get("boxes"), env.get("scores"), routing, env)

    def top_k_per_layer(self, top_k: Optional[int]) -> dict[str, int]:
        """K' per MoE layer (the exported K when ``top_k`` is None); a K' out of range is a UserError."""
        if top_k is None:
            return {layer["name"]: layer["top_k"] for layer in self.layers}
        if not self.layers:
            raise UserError("top_k applies to MoE models only; this bundle has no MoE layers")
        if not isinstance(top_k, (int, np.integer)) or not 1 <= top_k <= self.max_top_k:
            raise UserError(f"top_k must be an integer in [1, {self.max_top_k}] (the exported K), got {top_k!r}")
        return {layer["name"]: int(top_k) for layer in self.layers}

    def _run(self, graph: str, env: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        session = self.sessions[graph]
        return session.run({name: env[name] for name in session.input_names})

    def _run_experts(self, step: dict, env: dict[str, np.ndarray], keep: int) -> None:
        x = env[step["input"]]
        ids = env[step["ids"]].reshape(-1)  # (K,)
        weights = renormalise(env[step["weights"]].reshape(-1).astype(np.float32), keep)  # (K,)
        outputs = []
        for expert in ids[:keep]:
            session = self.sessions[step["graphs"][int(expert)]]
            outputs.append(next(iter(session.run({session.input_names[0]: x}).values())))
        if step.get("combine", "slots") == "mixed":
            mixed = outputs[0] * weights[0]
            for k in range(1, keep):
                mixed += outputs[k] * weights[k]
            env[step["mixed"]] = mixed
        else:
            for k, name in enumerate(step["outputs"]):
                env[name] = outputs[k] if k < keep else self._zeros_like(outputs[0])
        env[step["weights"]] = weights.reshape(1, -1)

    def _zeros_like(self, array: np.ndarray) -> np.ndarray:
        key = (array.shape, array.dtype.str)
        if key not in self._zeros:
            self._zeros[key] = np.zeros_like(array)
        return self._zeros[key]
