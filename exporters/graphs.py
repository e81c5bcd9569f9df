"""Builds the ONNX graphs and the execution plan of one routing lowering of a model (any family)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import onnx
import torch
from torch import Tensor

from edge_moe.exporters.lowering import Combine, DenseGraph, Expert, Segment, routed_layers, segment_specs
from edge_moe.exporters.onnx_graph import export_graph
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


def _graph(name: str, module: torch.nn.Module, env: dict[str, Tensor], inputs: list[str], outputs: list[str], opset: int, metadata: dict[str, str]) -> Graph:
    with torch.no_grad():
        produced = module(*(env[n] for n in inputs))
    produced = produced if isinstance(produced, tuple) else (produced,)
    env.update(zip(outputs, produced))
    meta = {**metadata, "edge_moe.graph": name}
    model = export_graph(module, tuple(env[n] for n in inputs), inputs, outputs, opset, meta)
    used = {value.name for value in model.graph.input}  # the exporter drops inputs a graph does not read
    return Graph(name, model, [tensor_info(n, env[n]) for n in inputs if n in used], [tensor_info(n, env[n]) for n in outputs])


def lower(
    model: torch.nn.Module, routing: str, imgsz: int, opset: int, metadata: dict[str, str], combine: Combine = "slots", progress: bool = False
) -> Lowered:
    """The graphs of ``routing`` ("sparse": segmented, "dense": one graph) and their plan."""
    from tqdm import tqdm

    model = model.eval()
    images = torch.rand(1, 3, imgsz, imgsz, generator=torch.Generator().manual_seed(0))  # (1, 3, H, W)
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
            expert_graphs = []
            ids = env[names.ids(layer.name)][0].tolist()
            for e, expert in enumerate(layer.experts):
                name = names.expert_graph(layer.name, e)
                scratch = {"x": env[names.moe_input(layer.name)]}
                graphs.append(_graph(name, Expert(expert), scratch, ["x"], ["y"], opset, metadata))
                expert_graphs.append(name)
                bar.update()
                if e in ids:
                    env[names.slot(layer.name, ids.index(e))] = scratch["y"]
            weights = env[names.weights(layer.name)]
            env[names.mixed(layer.name)] = sum(env[names.slot(layer.name, k)] * weights[0, k] for k in range(layer.top_k))
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
