"""Builds the ONNX graphs and the execution plan of one routing lowering of a model (any family)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import onnx
import torch
from torch import Tensor

from edge_moe.exporters.lowering import Combine, DenseGraph, Expert, Segment, routed_layers, segment_specs
from edge_moe.exporters.onnx_graph import export_graph
from edge_moe.moe.layer import per_row
from edge_moe.runtime import names

ROUTINGS = ("sparse", "dense")


@dataclass
class Graph:
    name: str
    model: onnx.ModelProto
    inputs: list[dict[str, Any]]  # [{name, shape, dtype}]
    outputs: list[dict[str, Any]]


@dataclass
class Lowered:
    routing: str
    lowering: str  # "dense" | "segmented"
    graphs: list[Graph] = field(default_factory=list)
    plan: dict[str, Any] = field(default_factory=dict)


def tensor_info(name: str, tensor: Tensor) -> dict[str, Any]:
    return {"name": name, "shape": list(tensor.shape), "dtype": str(tensor.dtype).replace("torch.", "")}


def _graph(name: str, module: torch.nn.Module, env: dict[str, Tensor], inputs: list[str], outputs: list[str], opset: int,
           metadata: dict[str, str], dynamic_batch: bool = False) -> Graph:
    with torch.no_grad():
        produced = module(*(env[n] for n in inputs))
    produced = produced if isinstance(produced, tuple) else (produced,)
    env.update(zip(outputs, produced))
    meta = {**metadata, "edge_moe.graph": name}
    model = export_graph(module, tuple(env[n] for n in inputs), inputs, outputs, opset, meta, dynamic_batch)
    used = {value.name for value in model.graph.input}  # the exporter drops inputs a graph does not read
    return Graph(name, model, [tensor_info(n, env[n]) for n in inputs if n in used], [tensor_info(n, env[n]) for n in outputs])


def lower(
    model: torch.nn.Module, routing: str, imgsz: int, opset: int, metadata: dict[str, str], combine: Combine = "slots",
    progress: bool = False, batch: int = 1,
) -> Lowered:
    """The graphs of ``routing`` ("sparse": segmented, "dense": one graph) and their plan, for ``batch`` frames a call.

    Every graph has static shapes with the batch as its first dimension, except a batched bundle's experts:
    they run on the images that chose them (1..batch rows), so their first dimension is dynamic.
    """
    from tqdm import tqdm

    model = model.eval()
    images = torch.rand(batch, 3, imgsz, imgsz, generator=torch.Generator().manual_seed(0))  # (B, 3, H, W)
    layers = routed_layers(model)
    masks = {names.slot_mask(l.name): torch.ones(1, l.top_k) for l in layers}  # (1, K): the exported K
    slot_masks = {l.name: names.slot_mask(l.name) for l in layers}
    if routing == "dense" or not layers:
        module = DenseGraph(model)
        graph = _graph("model", module, {"images": images, **masks}, module.input_names, module.output_names, opset, metadata)
        return Lowered(routing, "dense", [graph], {"steps": [{"run": "model"}], "slot_masks": slot_masks})
    env: dict[str, Tensor] = {"images": images, **masks}
    graphs, steps = [], []
    bar = tqdm(total=len(layers) + 1 + sum(l.num_experts for l in layers), desc=f"export {routing}", disable=not progress, leave=False)
    by_name = {layer.name: layer for layer in layers}
    for spec in segment_specs(model, combine):
        if spec.after is not None:
            layer = by_name[spec.after]
            expert_graphs, expert_outputs = [], []
            for e, expert in enumerate(layer.experts):
                name = names.expert_graph(layer.name, e)
                scratch = {"x": env[names.moe_input(layer.name)]}
                graphs.append(_graph(name, Expert(expert), scratch, ["x"], ["y"], opset, metadata, dynamic_batch=batch > 1))
                expert_graphs.append(name)
                expert_outputs.append(scratch["y"])  # (B, ...) this expert on every image
                bar.update()
            ids, weights = env[names.ids(layer.name)], env[names.weights(layer.name)]  # (B, K) each
            for k in range(layer.top_k):  # slot k of image b: the output of the expert image b chose for slot k
                env[names.slot(layer.name, k)] = torch.stack([expert_outputs[e][b] for b, e in enumerate(ids[:, k].tolist())])
            env[names.mixed(layer.name)] = sum(env[names.slot(layer.name, k)] * per_row(weights[:, k], env[names.slot(layer.name, k)])
                                               for k in range(layer.top_k))
            steps.append({
                "experts": layer.name,
                "graphs": expert_graphs,
                "input": names.moe_input(layer.name),
                "ids": names.ids(layer.name),
                "weights": names.weights(layer.name),
                "outputs": [names.slot(layer.name, k) for k in range(layer.top_k)],
                "mixed": names.mixed(layer.name),  # the If form's combined input (benchmarks/bench_routing_lowering.py)
            })
        name = f"segment{spec.index}"
        graphs.append(_graph(name, Segment(model, spec, combine), env, spec.inputs, spec.outputs, opset, metadata))
        steps.append({"run": name})
        bar.update()
    bar.close()
    return Lowered(routing, "segmented", graphs, {"steps": steps, "slot_masks": slot_masks})
