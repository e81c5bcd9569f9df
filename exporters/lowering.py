"""Routing lowerings of any MoE model into static-shape torch modules, one per ONNX graph.

Every model family describes its forward once as a :class:`~edge_moe.models.program.Program`; the
lowerings cut that program at every MoE layer. A *segment* runs from the output of one MoE layer (or
the image) to the input of the next MoE layer, where it also runs the router and returns the top-K
ids and renormalised weights; the last segment runs the rest and the deployment steps (a detector's
box decoding, a classifier's softmax).

- sparse (segmented): segments + one graph per expert; the runtime's plan runs the K experts the
  router chose and feeds their outputs (``y0..y{K-1}``) and weights into the next segment, which
  does the weighted combine (with any shared, always-on experts), the post-activation and the residual in-graph.
- dense: the same segments composed with all experts computed and weights masked to the top-K,
  in one graph.

Either way the segment that routes an MoE layer takes a ``slot_mask`` input (1, K) and returns the
weights masked and renormalised over the kept slots: the runtime's K' <= K is a mask it writes once,
and the weights go from graph to graph without the host touching them.

Tensor names shared by graphs and the plan: ``{layer}.x`` (MoE input), ``{layer}.ids`` (B, K)
int64, ``{layer}.weights`` (B, K) float32, ``{layer}.y{k}`` (expert output of slot k),
``{layer}.mixed`` (weighted sum of expert outputs), ``{layer}.slot_mask``, carried tensors under
their program names (a detector's ``p3``/``p4``), the program inputs (``images``) and deployment
outputs (``boxes`` / ``scores``, ``logits`` / ``probs``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

from torch import Tensor, nn

from edge_moe.models.program import Program, collect, live_after
from edge_moe.moe import MoELayer, Routing, moe_execution
from edge_moe.moe.layer import per_row
from edge_moe.runtime import names

Combine = Literal["slots", "mixed"]


@dataclass
class SegmentSpec:
    """What one segment consumes and produces (names as in the module docstring).

    The segment runs program steps ``start`` .. ``stop - 1``; before them it finishes the MoE step
    ``start - 1`` (``after``), after them it routes the MoE step ``stop`` (``until``) or, for the last
    segment, runs the program's deployment steps.
    """

    index: int
    after: Optional[str]  # MoE layer whose output this segment starts from (None: the program inputs)
    until: Optional[str]  # MoE layer whose input and routing it ends with (None: the deployment outputs)
    start: int = 0
    stop: int = 0
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)


def routed_layers(model: nn.Module) -> list[MoELayer]:
    """Every routed MoE layer of the model's program, in forward order."""
    return model.program().moe_layers


class Segment(nn.Module):
    """The program's steps between two MoE layers (the last one also runs the deployment steps)."""

    def __init__(self, model: nn.Module, spec: SegmentSpec, combine: Combine = "slots"):
        super().__init__()
        self.model = model
        self.program: Program = model.program()
        self.spec = spec
        self.combine = combine

    def forward(self, *inputs: Tensor) -> tuple[Tensor, ...]:
        env = dict(zip(self.spec.inputs, inputs))
        steps = self.program.steps
        if self.spec.after is not None:
            step = steps[self.spec.start - 1]
            env[step.outputs[0]] = finish_moe(step.moe, env, self.combine)
        for step in steps[self.spec.start : self.spec.stop]:
            step.run(env)
        if self.spec.until is None:
            for step in self.program.deploy:
                step.run(env)
        else:
            step = steps[self.spec.stop]
            layer, x = step.moe, env[step.inputs[0]]
            routing = layer.route(x)
            weights = masked_weights(routing.weights, env[names.slot_mask(layer.name)])
            env.update({names.moe_input(layer.name): x, names.ids(layer.name): routing.ids, names.weights(layer.name): weights})
        return collect(env, self.spec.outputs)


def masked_weights(weights: Tensor, mask: Tensor) -> Tensor:
    """(B, K) routing weights with the slots the (1, K) mask drops zeroed and the kept ones renormalised."""
    masked = weights * mask
    return masked / masked.sum(dim=-1, keepdim=True)


def finish_moe(layer: MoELayer, named: dict[str, Tensor], combine: Combine) -> Tensor:
    """The MoE layer's output from its input and the chosen experts' outputs: x + post(sum_k w_k y_k)."""
    x = named[names.moe_input(layer.name)]
    if combine == "mixed":
        mixed = named[names.mixed(layer.name)]
    else:
        weights = named[names.weights(layer.name)]  # (B, K)
        mixed = 0
        for k in range(layer.top_k):
            y = named[names.slot(layer.name, k)]  # (B, ...) any rank
            mixed = mixed + y * per_row(weights[:, k], y)
        mixed = layer.with_shared(x, mixed)  # shared experts run in this segment, on the layer input it receives
    y = layer.post(mixed)
    return x + y if layer.residual else y


class Expert(nn.Module):
    """One expert of one MoE layer as its own graph: ``x -> y``."""

    def __init__(self, expert: nn.Module):
        super().__init__()
        self.expert = expert

    def forward(self, x: Tensor) -> Tensor:
        return self.expert(x)


def segment_specs(model: nn.Module, combine: Combine = "slots") -> list[SegmentSpec]:
    """The segments of ``model``'s program, cut at its MoE layers, with their input and output tensor names.

    A segment's inputs are the tensors live across the cut before it (produced earlier, read later)
    plus the previous MoE layer's input and expert outputs; its outputs are the tensors it produces
    that are live across the next cut, plus that MoE layer's input, ids and weights.
    """
    program = model.program()
    cuts = program.moe_steps()
    specs = []
    for index in range(len(cuts) + 1):
        previous = program.steps[cuts[index - 1]].moe if index else None
        layer = program.steps[cuts[index]].moe if index < len(cuts) else None
        if previous is None:
            inputs = list(program.inputs)
        else:
            inputs = live_after(program, cuts[index - 1]) + moe_inputs(previous, combine)
        if layer is None:
            outputs = list(program.deploy_outputs or program.outputs)
        else:
            carried = [name for name in live_after(program, cuts[index]) if name not in inputs]
            outputs = carried + [names.moe_input(layer.name), *names.routing(layer.name)]
            inputs = inputs + [names.slot_mask(layer.name)]
        start = cuts[index - 1] + 1 if index else 0
        stop = cuts[index] if layer is not None else len(program.steps)
        specs.append(SegmentSpec(index, previous.name if previous else None, layer.name if layer else None, start, stop, inputs, outputs))
    return specs


def moe_inputs(layer: MoELayer, combine: Combine) -> list[str]:
    if combine == "mixed":
        return [names.moe_input(layer.name), names.mixed(layer.name)]
    return [names.moe_input(layer.name), *(names.slot(layer.name, k) for k in range(layer.top_k)), names.weights(layer.name)]


class DenseGraph(nn.Module):
    """The whole model in one graph: all experts computed, weights masked to the top-K.

    Inputs: the program's inputs and one ``{layer}.slot_mask`` (1, K) per MoE layer (ones = exported K);
    outputs: the deployment outputs and the (masked, renormalised) ids and weights of every MoE layer.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        program = model.program()
        self.specs = segment_specs(model, "mixed")
        self.segments = nn.ModuleList(Segment(model, spec, "mixed") for spec in self.specs)
        self.layers = program.moe_layers
        self.input_names = list(program.inputs) + [names.slot_mask(layer.name) for layer in self.layers]
        outputs = list(program.deploy_outputs or program.outputs)
        self.output_names = outputs + [name for layer in self.layers for name in names.routing(layer.name)]

    def forward(self, *inputs: Tensor) -> tuple[Tensor, ...]:
        env: dict[str, Tensor] = dict(zip(self.input_names, inputs))
        for segment, spec in zip(self.segments, self.specs):
            if spec.after is not None:  # the segment before routed this layer: weights are masked already
                layer = next(l for l in self.layers if l.name == spec.after)
                x = env[names.moe_input(layer.name)]
                probs = x.new_zeros((x.shape[0], layer.num_experts))  # only its shape is used by dense_weights()
                routing = Routing(layer.name, probs, probs, env[names.ids(layer.name)], env[names.weights(layer.name)])
                with moe_execution(self.model, "dense"):
                    env[names.mixed(layer.name)] = layer.mix(x, routing)
            env.update(zip(spec.outputs, segment(*(env[name] for name in spec.inputs))))
        return tuple(env[name] for name in self.output_names)
