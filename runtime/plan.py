"""The plan executor: runs a bundle's graphs in the order its plan says, on buffers it owns (torch-free).

Plan steps (the manifest's ``plan.steps``, :mod:`edge_moe.runtime.schema`):

- :class:`RunStep`: run one graph; its inputs and outputs are the plan's named tensors.
- :class:`ExpertsStep`: run only the experts the router chose (the expert of slot k,
  ``graphs[ids[k]]``, reads ``input`` and writes ``outputs[k]``); the next graph mixes the slots.

Every named tensor has one buffer on the backend's device (:class:`~edge_moe.runtime.memory.MemoryPlan`),
allocated at load, and every graph is bound once to its buffers (an expert once per slot). Per frame
only this crosses between the host and the backend, and it is counted (``PlanResult.host_bytes``):
the frame in, each MoE layer's ids and weights out (the host needs the ids to choose the expert
graphs), the final outputs out. ``top_k=K'`` keeps the first K' of the exported K experts of every
MoE layer: the plan's ``slot_masks`` (layer -> input name) are (1, K) inputs of the graph that routes
the layer, which masks and renormalises the weights itself, so K' is written once, not per frame.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from edge_moe.errors import UserError
from edge_moe.runtime.backends.base import Backend, BoundRun, DeviceBuffer
from edge_moe.runtime.bundle import Bundle
from edge_moe.runtime.memory import MemoryPlan
from edge_moe.runtime import names
from edge_moe.runtime.names import routing as routing_names
from edge_moe.runtime.schema import ExpertsStep, RunStep


@dataclass
class LayerRouting:
    layer: str
    ids: np.ndarray  # (K',) int64 expert ids, by descending weight
    weights: np.ndarray  # (K',) float32, sum to 1


@dataclass
class PlanResult:
    outputs: dict[str, np.ndarray]  # the plan's final outputs by name, e.g. boxes (1, A, 4), scores (1, A, nc)
    routing: list[LayerRouting]
    host_bytes: int = 0  # bytes moved between host memory and the backend for this frame
    device_ms: Optional[float] = None  # GPU time of the frame (its share of its call), where the backend has device timers

    @property
    def boxes(self) -> np.ndarray:
        return self.outputs["boxes"]  # (1, A, 4) float32 xyxy in letterboxed-input pixels

    @property
    def scores(self) -> np.ndarray:
        return self.outputs["scores"]  # (1, A, nc) float32 sigmoid class scores


@dataclass
class _ExpertsStep:
    layer: str
    input: DeviceBuffer  # (B, ...) the layer input
    slots: list[DeviceBuffer]  # (B, ...) per slot: the output of the expert each image chose for it
    ids: DeviceBuffer
    weights: DeviceBuffer
    graphs: tuple[str, ...]  # one per expert
    calls: list[list[BoundRun]]  # calls[expert][slot]: the whole batch, input -> slot
    gathered: Optional[DeviceBuffer]  # batched plans: the rows of the images that chose one expert
    produced: Optional[DeviceBuffer]  # batched plans: that expert's outputs, before they go to the slots
    grouped: dict[tuple[int, int], BoundRun]  # (expert, rows) -> the expert on the first rows of gathered, bound on first use


def expert_groups(chosen: np.ndarray) -> dict[int, list[tuple[int, int]]]:
    """expert -> its (image, slot) pairs, from a batch's chosen ids (N, K'), in image order."""
    groups: dict[int, list[tuple[int, int]]] = {}
    for image, row in enumerate(chosen.tolist()):
        for slot, expert in enumerate(row):
            groups.setdefault(expert, []).append((image, slot))
    return groups


class PlanExecutor:
    """Runs a bundle (dense or sparse) on one :class:`Backend` (default: ONNX Runtime with the
    runtime's thread-pool rule, :func:`edge_moe.runtime.backends.select.open_backend`).

    A backend passed in stays the caller's; one the executor opened is closed by :meth:`close`.
    """

    def __init__(self, bundle: Bundle, backend: Optional[Backend] = None):
        from edge_moe.runtime.backends.select import open_backend

        self.bundle = bundle
        self.owns_backend = backend is None
        self.backend = backend if backend is not None else open_backend(bundle, "onnxruntime")
        self.memory: Optional[MemoryPlan] = None
        self.sessions: dict = {}
        try:
            self.memory = MemoryPlan(bundle, self.backend)
            self.sessions = {name: self.backend.open(name) for name in bundle.graphs}
            self.steps = [self._compile(step) for step in bundle.plan.steps]
        except BaseException:
            self.close()
            raise
        self.layers = bundle.moe_layers
        self.batch = bundle.input.batch
        self.input = self.memory[bundle.input.name]
        self.output_names = final_outputs(bundle)
        self.slot_masks: dict[str, str] = bundle.plan.slot_masks
        self.timer = self.backend.timer()
        self._masks_for: Optional[dict[str, int]] = None

    # set-up ---------------------------------------------------------------------------------
    def _bind(self, graph: str, buffers: dict[str, DeviceBuffer]) -> BoundRun:
        session = self.sessions[graph]
        session.check(buffers, f"{self.bundle.root}/manifest.json")
        inputs = {name: buffers[name] for name in session.input_names}
        return session.bind(inputs, {name: buffers[name] for name in session.output_names})

    def _compile(self, step: RunStep | ExpertsStep) -> BoundRun | _ExpertsStep:
        buffers = self.memory.buffers
        if isinstance(step, RunStep):
            return self._bind(step.graph, buffers)
        calls = [[self._bind_expert(graph, buffers[step.input], buffers[slot]) for slot in step.outputs] for graph in step.graphs]
        return _ExpertsStep(step.layer, buffers[step.input], [buffers[slot] for slot in step.outputs], buffers[step.ids],
                            buffers[step.weights], step.graphs, calls, buffers.get(names.grouped_input(step.layer)),
                            buffers.get(names.grouped_output(step.layer)), {})

    def _bind_expert(self, graph: str, x: DeviceBuffer, y: DeviceBuffer) -> BoundRun:
        """An expert graph (local names ``x -> y``, whatever the exporter called them) bound to two buffers."""
        session = self.sessions[graph]
        (x_name,), (y_name,) = session.input_names, session.output_names
        return self._bind(graph, {x_name: x, y_name: y})

    @property
    def max_top_k(self) -> int:
        return min((layer.top_k for layer in self.layers), default=0)

    def top_k_per_layer(self, top_k: Optional[int]) -> dict[str, int]:
        """K' per MoE layer (the exported K when ``top_k`` is None); a K' out of range is a UserError."""
        if top_k is None:
            return {layer.name: layer.top_k for layer in self.layers}
        if not self.layers:
            raise UserError("top_k applies to MoE models only; this bundle has no MoE layers")
        if not isinstance(top_k, (int, np.integer)) or not 1 <= top_k <= self.max_top_k:
            raise UserError(f"top_k must be an integer in [1, {self.max_top_k}] (the exported K), got {top_k!r}")
        return {layer.name: int(top_k) for layer in self.layers}

    def _set_slot_masks(self, keep: dict[str, int]) -> None:
        """The graph routing each layer takes K' as a (1, K) mask input: written when K' changes, not per frame."""
        if keep == self._masks_for:
            return
        for layer in self.layers:
            if layer.name in self.slot_masks:
                mask = np.zeros((1, layer.top_k), np.float32)
                mask[:, : keep[layer.name]] = 1.0
                self.memory[self.slot_masks[layer.name]].write(mask)
        self._masks_for = keep

    # per call -------------------------------------------------------------------------------
    def __call__(self, images: np.ndarray, top_k: Optional[int] = None) -> PlanResult:
        """One frame (1, ...) of the bundle's input shape and dtype; any bundle, batched or not."""
        self._check_input(images, single=True)
        return self._run(images, top_k)[0]

    def run_batch(self, images: np.ndarray, top_k: Optional[int] = None) -> list[PlanResult]:
        """1..B frames (N, ...) in one call of a bundle exported with ``--batch B``: one result per frame, each with
        its share of the host bytes. Fewer than B frames are padded (the padding's experts do not run)."""
        self._check_input(images)
        return self._run(images, top_k)

    def _run(self, images: np.ndarray, top_k: Optional[int]) -> list[PlanResult]:
        frames = images.shape[0]
        keep = self.top_k_per_layer(top_k)
        self._set_slot_masks(keep)
        if frames < self.batch:
            images = np.concatenate([images, np.zeros((self.batch - frames, *images.shape[1:]), images.dtype)])
        if self.timer is not None:
            self.timer.start()
        self.input.write(images)
        moved = [self.input.nbytes]

        def read(buffer: DeviceBuffer) -> np.ndarray:
            moved[0] += buffer.nbytes
            return buffer.read()

        chosen: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # layer -> ids, weights (N, K')
        for step in self.steps:
            if isinstance(step, _ExpertsStep):
                chosen[step.layer] = self._run_experts(step, keep[step.layer], frames, read)
            else:
                step()
        if self.timer is not None:
            self.timer.stop()
        for layer in self.layers:  # dense: the graph computed the routing, read it after the run
            if layer.name not in chosen:
                ids, weights = (read(self.memory[tensor]) for tensor in routing_names(layer.name))  # (B, K) each
                chosen[layer.name] = ids[:frames, : keep[layer.name]], weights[:frames, : keep[layer.name]]
        outputs = {name: read(self.memory[name]) for name in self.output_names}
        share = moved[0] // frames
        device_ms = self.timer.elapsed_ms() / frames if self.timer is not None else None
        return [PlanResult({name: value[i : i + 1] for name, value in outputs.items()},
                           [LayerRouting(layer.name, chosen[layer.name][0][i].astype(np.int64), chosen[layer.name][1][i].astype(np.float32))
                            for layer in self.layers], share, device_ms)
                for i in range(frames)]

    def _run_experts(self, step: _ExpertsStep, keep: int, frames: int, read: Callable) -> tuple[np.ndarray, np.ndarray]:
        ids = read(step.ids)[:frames, :keep]  # (N, K') int64: the host must know them to pick the expert graphs
        weights = read(step.weights)[:frames, :keep]  # (N, K') float32, masked to K' and renormalised in-graph
        for expert, members in expert_groups(ids).items():
            slots = {slot for _, slot in members}
            if len(members) == self.batch and len(slots) == 1:  # every image, one slot: straight from the layer input
                step.calls[expert][slots.pop()]()
                continue
            self._run_group(step, expert, members)
        return ids, weights

    def _run_group(self, step: _ExpertsStep, expert: int, members: list[tuple[int, int]]) -> None:
        """Gathers the images that chose ``expert``, runs it once on them, scatters its outputs to their slots."""
        rows = len(members)
        self.backend.copy_rows(step.input, [image for image, _ in members], step.gathered, range(rows))
        call = step.grouped.get((expert, rows))
        if call is None:
            call = step.grouped[(expert, rows)] = self._bind_expert(step.graphs[expert], step.gathered.rows(rows), step.produced.rows(rows))
        call()
        for slot in sorted({slot for _, slot in members}):
            picked = [(row, image) for row, (image, s) in enumerate(members) if s == slot]
            self.backend.copy_rows(step.produced, [row for row, _ in picked], step.slots[slot], [image for _, image in picked])

    def _check_input(self, images: np.ndarray, single: bool = False) -> None:
        expected = self.input
        frames = images.shape[0] if isinstance(images, np.ndarray) and images.ndim else 0
        if (not isinstance(images, np.ndarray) or images.shape[1:] != expected.shape[1:] or images.dtype.kind != expected.dtype.kind
                or not 1 <= frames <= (1 if single else self.batch)):
            got = f"{list(images.shape)} {images.dtype}" if isinstance(images, np.ndarray) else type(images).__name__
            count = "1" if single or self.batch == 1 else f"N (1..{self.batch})"
            raise UserError(f"plan input must be [{count}, {', '.join(map(str, expected.shape[1:]))}] {expected.dtype}, got {got}")

    # lifecycle ------------------------------------------------------------------------------
    def close(self) -> None:
        """Frees the buffers and sessions now (and the backend, when the executor opened it)."""
        if self.backend is not None:
            self.backend.synchronize()
        if self.memory is not None:
            self.memory.close()
        for session in self.sessions.values():
            session.close()
        self.sessions = {}
        if self.owns_backend and self.backend is not None:
            self.backend.close()
        self.backend = None

    def __enter__(self) -> "PlanExecutor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def final_outputs(bundle: Bundle) -> list[str]:
    """Tensors the plan produces and no later graph reads, routing excepted: what the caller gets back."""
    produced, consumed = [], set()
    for step in bundle.plan.steps:
        if isinstance(step, RunStep):
            entry = bundle.graphs[step.graph]
            consumed.update(t.name for t in entry.inputs)
            produced += [t.name for t in entry.outputs]
        else:
            consumed.add(step.input)
    routing = {name for layer in bundle.moe_layers for name in routing_names(layer.name)}
    return [name for name in produced if name not in consumed and name not in routing]
