"""Routing lowerings of an MoE detector into static-shape torch modules, one per ONNX graph.

The backbone is cut at every MoE layer. A *segment* runs from the output of one MoE layer (or the
image) to the input of the next MoE layer, where it also runs the router and returns the top-K ids
and renormalised weights; the last segment runs the neck, the head and the box decoding.

- sparse (segmented): segments + one graph per expert; the runtime's plan runs the K experts the
  router chose and feeds their outputs (``y0..y{K-1}``) and weights into the next segment, which
  does the weighted combine, the post-activation and the residual in-graph.
- dense: the same segments composed with all experts computed and weights masked to the top-K,
  in one graph. A ``slot_mask`` input (1, K) per MoE layer lets the runtime keep only the first
  K' <= K slots (renormalised), the same compute-budget knob the sparse plan offers.

Tensor names shared by graphs and the plan: ``{layer}.x`` (MoE input), ``{layer}.ids`` (1, K)
int64, ``{layer}.weights`` (1, K) float32, ``{layer}.y{k}`` (expert output of slot k),
``{layer}.mixed`` (weighted sum of expert outputs), ``{layer}.slot_mask``, carried backbone
features ``p3``/``p4``, and ``images`` / ``boxes`` / ``scores``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

from torch import Tensor, nn

from edge_moe.models.detector import MoEDetector
from edge_moe.moe import MoELayer, Routing, moe_execution

Combine = Literal["slots", "mixed"]
STAGES = (2, 3, 4, 5)


@dataclass
class SegmentSpec:
    """What one segment consumes and produces (names as in the module docstring)."""

    index: int
    after: Optional[str]  # MoE layer whose output this segment starts from (None: the image)
    until: Optional[str]  # MoE layer whose input and routing it ends with (None: the head)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)


def routed_layers(model: MoEDetector) -> list[tuple[int, MoELayer]]:
    """(stage, layer) for every routed MoE layer of the backbone, in forward order."""
    blocks = model.backbone.moe
    return [(s, blocks[f"p{s}"]) for s in STAGES if f"p{s}" in blocks and isinstance(blocks[f"p{s}"], MoELayer)]


class Segment(nn.Module):
    """Backbone (and at the end neck + head + decoding) between two MoE layers."""

    def __init__(self, model: MoEDetector, spec: SegmentSpec, combine: Combine = "slots"):
        super().__init__()
        self.model = model
        self.spec = spec
        self.combine = combine
        self.layers = {layer.name: (stage, layer) for stage, layer in routed_layers(model)}

    def forward(self, *inputs: Tensor) -> tuple[Tensor, ...]:
        named = dict(zip(self.spec.inputs, inputs))
        backbone = self.model.backbone
        if self.spec.after is None:
            x = backbone.stem(named["images"])  # (1, w0, H/2, W/2)
            first_stage = 2
        else:
            stage, layer = self.layers[self.spec.after]
            x = finish_moe(layer, named, self.combine)
            first_stage = stage + 1
        features = {name: named[name] for name in ("p3", "p4") if name in named}
        if self.spec.after is not None and stage >= 3:
            features[f"p{stage}"] = x
        for stage in range(first_stage, 6):
            x = backbone.stages[stage - 2](x)  # (1, w[stage-1], H/2^stage, W/2^stage)
            block = backbone.moe[f"p{stage}"] if f"p{stage}" in backbone.moe else None
            if isinstance(block, MoELayer):
                routing = block.route(x)
                values = {**features, f"{block.name}.x": x, f"{block.name}.ids": routing.ids, f"{block.name}.weights": routing.weights}
                return tuple(values[name] for name in self.spec.outputs)
            if block is not None:
                x = block(x)
            if stage >= 3:
                features[f"p{stage}"] = x
        outputs = self.model.head(self.model.neck(features["p3"], features["p4"], features["p5"]))
        boxes, scores = self.model.decode(outputs)  # (1, A, 4), (1, A, nc)
        return boxes, scores


def finish_moe(layer: MoELayer, named: dict[str, Tensor], combine: Combine) -> Tensor:
    """The MoE layer's output from its input and the chosen experts' outputs: x + post(sum_k w_k y_k)."""
    x = named[f"{layer.name}.x"]
    if combine == "mixed":
        mixed = named[f"{layer.name}.mixed"]
    else:
        weights = named[f"{layer.name}.weights"]  # (1, K)
        mixed = 0
        for k in range(layer.top_k):
            mixed = mixed + named[f"{layer.name}.y{k}"] * weights[:, k].view(1, 1, 1, 1)
    y = layer.post(mixed)
    return x + y if layer.residual else y


class Expert(nn.Module):
    """One expert of one MoE layer as its own graph: ``x -> y``."""

    def __init__(self, expert: nn.Module):
        super().__init__()
        self.expert = expert

    def forward(self, x: Tensor) -> Tensor:
        return self.expert(x)


def segment_specs(model: MoEDetector, combine: Combine = "slots") -> list[SegmentSpec]:
    """The segments of ``model`` with their input and output tensor names."""
    layers = routed_layers(model)
    specs = []
    known: list[str] = []  # backbone features P3/P4 finished so far, carried to the head
    previous: Optional[tuple[int, MoELayer]] = None
    for index in range(len(layers) + 1):
        end_stage, layer = layers[index] if index < len(layers) else (6, None)
        inputs = ["images"] if previous is None else known + moe_inputs(previous[1], combine)
        first = 2 if previous is None else previous[0]  # the previous MoE layer's stage ends here
        finished = [f"p{s}" for s in range(max(first, 3), end_stage)]  # produced here, needed by the head
        known = known + finished
        if layer is None:
            outputs = ["boxes", "scores"]
        else:
            outputs = finished + [f"{layer.name}.x", f"{layer.name}.ids", f"{layer.name}.weights"]
        after = previous[1].name if previous else None
        specs.append(SegmentSpec(index, after, layer.name if layer else None, inputs, outputs))
        previous = (end_stage, layer) if layer is not None else None
    return specs


def moe_inputs(layer: MoELayer, combine: Combine) -> list[str]:
    if combine == "mixed":
        return [f"{layer.name}.x", f"{layer.name}.mixed"]
    return [f"{layer.name}.x", *(f"{layer.name}.y{k}" for k in range(layer.top_k)), f"{layer.name}.weights"]


class DenseGraph(nn.Module):
    """The whole detector in one graph: all experts computed, weights masked to the top-K.

    Inputs ``images`` and one ``{layer}.slot_mask`` (1, K) per MoE layer (ones = exported K);
    outputs boxes, scores and the (masked, renormalised) ids and weights of every MoE layer.
    """

    def __init__(self, model: MoEDetector):
        super().__init__()
        self.model = model
        self.specs = segment_specs(model, "mixed")
        self.segments = nn.ModuleList(Segment(model, spec, "mixed") for spec in self.specs)
        self.layers = [layer for _, layer in routed_layers(model)]
        self.input_names = ["images"] + [f"{layer.name}.slot_mask" for layer in self.layers]
        self.output_names = ["boxes", "scores"] + [f"{layer.name}.{kind}" for layer in self.layers for kind in ("ids", "weights")]

    def forward(self, images: Tensor, *slot_masks: Tensor) -> tuple[Tensor, ...]:
        env: dict[str, Tensor] = {"images": images}
        for segment, spec in zip(self.segments, self.specs):
            if spec.after is not None:
                layer = next(l for l in self.layers if l.name == spec.after)
                mask = slot_masks[self.layers.index(layer)]  # (1, K)
                masked = env[f"{layer.name}.weights"] * mask
                weights = masked / masked.sum(dim=-1, keepdim=True)  # (1, K) renormalised over kept slots
                env[f"{layer.name}.weights"] = weights
                x = env[f"{layer.name}.x"]
                probs = x.new_zeros((1, layer.num_experts))  # only its shape is used by dense_weights()
                routing = Routing(layer.name, probs, probs, env[f"{layer.name}.ids"], weights)
                with moe_execution(self.model, "dense"):
                    env[f"{layer.name}.mixed"] = layer.mix(x, routing)
            env.update(zip(spec.outputs, segment(*(env[name] for name in spec.inputs))))
        return tuple(env[name] for name in self.output_names)
