"""The executor's memory plan: one buffer per named tensor of the plan, sized from the manifest's static shapes.

Every tensor a bundle's graphs exchange has a name (``images``, ``{layer}.x``, ``{layer}.y{k}``,
``{layer}.ids``, ``{layer}.weights``, carried features, ``boxes``, ``scores``, ...) and one static
shape, so all of them are allocated once, at load, on the backend's device. Expert graphs have
local names (``x`` -> ``y``): the plan's experts step maps them to the layer's input and to the
slot buffers, whose shapes must agree. A batched sparse plan adds, per MoE layer, the two buffers its
experts run on when only some of the batch's images chose them (``names.grouped_input`` / ``grouped_output``).
"""
from __future__ import annotations

import numpy as np

from edge_moe.errors import UserError
from edge_moe.runtime import names
from edge_moe.runtime.backends.base import Backend, DeviceBuffer
from edge_moe.runtime.schema import RunStep, TensorSpec


def tensor_slots(bundle) -> dict[str, TensorSpec]:
    """Every named tensor of the plan with its shape and dtype; disagreeing declarations are a UserError."""
    where = f"{bundle.root}/manifest.json"
    slots: dict[str, TensorSpec] = {}

    def add(name: str, spec: TensorSpec, graph: str) -> None:
        slot = TensorSpec(name, spec.shape, spec.dtype)
        known = slots.setdefault(name, slot)
        if known != slot:
            raise UserError(f"{where}: tensor {name} is {list(slot.shape)} {slot.dtype} in graphs.{graph} but "
                            f"{list(known.shape)} {known.dtype} elsewhere; re-export the bundle")

    for step in bundle.plan.steps:
        if isinstance(step, RunStep):
            entry = bundle.graphs[step.graph]
            for spec in (*entry.inputs, *entry.outputs):
                add(spec.name, spec, step.graph)
            continue
        for graph in step.graphs:  # every expert: x -> y, mapped onto the layer's input and slots
            entry = bundle.graphs[graph]
            if len(entry.inputs) != 1 or len(entry.outputs) != 1:
                raise UserError(f"{where}: expert graph {graph} must have one input and one output, "
                                f"has {len(entry.inputs)} and {len(entry.outputs)}")
            add(step.input, entry.inputs[0], graph)
            for output in step.outputs:
                add(output, entry.outputs[0], graph)
            if bundle.input.batch > 1:
                add(names.grouped_input(step.layer), entry.inputs[0], graph)
                add(names.grouped_output(step.layer), entry.outputs[0], graph)
    return slots


class MemoryPlan:
    """The buffers of one executor, allocated once on ``backend`` and freed by ``close``."""

    def __init__(self, bundle, backend: Backend):
        self.buffers: dict[str, DeviceBuffer] = {}
        try:
            for slot in tensor_slots(bundle).values():
                self.buffers[slot.name] = backend.allocate(slot.name, slot.shape, np.dtype(slot.dtype))
        except BaseException:
            self.close()
            raise

    @property
    def nbytes(self) -> int:
        return sum(buffer.nbytes for buffer in self.buffers.values())

    def __getitem__(self, name: str) -> DeviceBuffer:
        return self.buffers[name]

    def close(self) -> None:
        for buffer in self.buffers.values():
            buffer.close()
        self.buffers.clear()
