"""A model's forward written once, as an ordered list of named steps (the idea of timm's ``feature_info``).

Each :class:`Step` runs one module on named tensors and names what it returns; a step whose module
is an :class:`~edge_moe.moe.MoELayer` is an MoE layer (it also returns its routing). The model's
``forward`` interprets its program; the export lowerings cut it at the MoE layers and derive every
segment's inputs and outputs from which named tensors are live across each cut; the complexity
counter runs it. ``deploy`` steps run after ``steps`` only in deployment (box decoding, softmax).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from torch import Tensor, nn

from edge_moe.moe import MoELayer, Routing


@dataclass(frozen=True)
class Step:
    module: nn.Module
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    @property
    def moe(self) -> MoELayer | None:
        return self.module if isinstance(self.module, MoELayer) else None

    def run(self, env: dict[str, Tensor]) -> Routing | None:
        """Runs the step on ``env``, storing its outputs there; returns the routing of an MoE step."""
        result = self.module(*(env[name] for name in self.inputs))
        routing = None
        if self.moe is not None:
            result, routing = result
        values = (result,) if len(self.outputs) == 1 else tuple(result)
        env.update(zip(self.outputs, values))
        return routing


@dataclass(frozen=True)
class Program:
    """``inputs`` -> ``steps`` -> ``outputs`` (training / PyTorch forward) -> ``deploy`` -> ``deploy_outputs``."""

    inputs: tuple[str, ...]
    steps: tuple[Step, ...]
    outputs: tuple[str, ...]
    deploy: tuple[Step, ...] = field(default_factory=tuple)
    deploy_outputs: tuple[str, ...] = field(default_factory=tuple)

    def run(self, *inputs: Tensor, deploy: bool = False) -> tuple[dict[str, Tensor], list[Routing]]:
        """All named tensors and the routing of every MoE step, in forward order."""
        env = dict(zip(self.inputs, inputs))
        routings = []
        for step in (*self.steps, *self.deploy) if deploy else self.steps:
            routing = step.run(env)
            if routing is not None:
                routings.append(routing)
        return env, routings

    def moe_steps(self) -> list[int]:
        """Indices (in ``steps``) of the routed MoE layers, in forward order."""
        return [i for i, step in enumerate(self.steps) if step.moe is not None]

    @property
    def moe_layers(self) -> list[MoELayer]:
        return [self.steps[i].moe for i in self.moe_steps()]  # type: ignore[misc]


def live_after(program: Program, index: int) -> list[str]:
    """Tensors produced before step ``index`` (or program inputs) that a later step or output still reads,
    in order of production."""
    produced: list[str] = list(program.inputs)
    for step in program.steps[:index]:
        produced += [name for name in step.outputs if name not in produced]
    later = program.steps[index + 1 :] + program.deploy
    needed = {name for step in later for name in step.inputs} | set(program.deploy_outputs or program.outputs)
    return [name for name in produced if name in needed]


def collect(env: dict[str, Tensor], names: Sequence[str]) -> tuple[Tensor, ...]:
    return tuple(env[name] for name in names)
