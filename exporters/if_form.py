"""The ONNX ``If``-node form of sparse routing: one graph, one ``If`` per expert.

Built by composing the graphs of a segmented lowering with ``combine="mixed"``: every segment is
inlined, and between two segments each expert ``e`` of the MoE layer becomes
``If(e in ids) then w_e * expert_e(x) else zeros``, summed into the layer's ``mixed`` tensor.
Only the chosen experts' branches execute, like the segmented plan, but inside one graph. It is
kept for measurement (``benchmarks/bench_routing_lowering.py``): on ONNX Runtime CPU the segmented
form wins, and TensorRT's IIfConditional is reported to cost both branches.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edge_moe.exporters.graphs import Graph, Lowered
from edge_moe.exporters.onnx_graph import set_metadata


class _Renamer:
    """Prefixes a graph's internal names so graphs can be inlined side by side."""

    def __init__(self, prefix: str, keep: dict[str, str]):
        self.prefix, self.keep = prefix, keep

    def __call__(self, name: str) -> str:
        if not name:
            return name
        return self.keep.get(name, f"{self.prefix}/{name}")

    def nodes(self, graph: onnx.GraphProto) -> list[onnx.NodeProto]:
        out = []
        for node in graph.node:
            copy = onnx.NodeProto()
            copy.CopyFrom(node)
            copy.name = f"{self.prefix}/{node.name}"
            copy.input[:] = [self(n) for n in node.input]
            copy.output[:] = [self(n) for n in node.output]
            out.append(copy)
        return out

    def initializers(self, graph: onnx.GraphProto) -> list[onnx.TensorProto]:
        out = []
        for init in graph.initializer:
            copy = TensorProto()
            copy.CopyFrom(init)
            copy.name = self(init.name)
            out.append(copy)
        return out


def _value(name: str, info: dict) -> onnx.ValueInfoProto:
    elem = TensorProto.INT64 if info["dtype"] == "int64" else TensorProto.FLOAT
    return helper.make_tensor_value_info(name, elem, info["shape"])


def if_form(segmented: Lowered, opset: int) -> Lowered:
    """One-graph ``If`` lowering from a segmented lowering built with ``combine="mixed"``."""
    graphs = {g.name: g for g in segmented.graphs}
    nodes: list[onnx.NodeProto] = []
    initializers: list[onnx.TensorProto] = []
    outputs: list[dict] = []
    for step in segmented.plan["steps"]:
        if "run" in step:
            graph = graphs[step["run"]]
            names = {v["name"]: v["name"] for v in graph.inputs + graph.outputs}
            rename = _Renamer(graph.name, names)
            nodes += rename.nodes(graph.model.graph)
            initializers += rename.initializers(graph.model.graph)
            outputs += [o for o in graph.outputs if o["name"] in ("boxes", "scores") or o["name"].endswith((".ids", ".weights"))]
            continue
        layer, x = step["experts"], step["input"]
        branch_outputs = []
        for e, expert_name in enumerate(step["graphs"]):
            expert = graphs[expert_name]
            y_info = expert.outputs[0]
            tag = f"{layer}.e{e}"
            nodes += [
                helper.make_node("Constant", [], [f"{tag}.id"], value=numpy_helper.from_array(np.array(e, np.int64)), name=f"{tag}/id"),
                helper.make_node("Equal", [step["ids"], f"{tag}.id"], [f"{tag}.hit"], name=f"{tag}/Equal"),
                helper.make_node("Cast", [f"{tag}.hit"], [f"{tag}.hitf"], to=TensorProto.FLOAT, name=f"{tag}/Cast"),
                helper.make_node("Mul", [f"{tag}.hitf", step["weights"]], [f"{tag}.wk"], name=f"{tag}/Mul"),
                helper.make_node("ReduceSum", [f"{tag}.wk"], [f"{tag}.w"], keepdims=0, name=f"{tag}/ReduceSum"),
                helper.make_node("ReduceSum", [f"{tag}.hitf"], [f"{tag}.hits"], keepdims=0, name=f"{tag}/Hits"),
                helper.make_node("Constant", [], [f"{tag}.zero"], value=numpy_helper.from_array(np.array(0.0, np.float32)), name=f"{tag}/zero"),
                helper.make_node("Greater", [f"{tag}.hits", f"{tag}.zero"], [f"{tag}.cond"], name=f"{tag}/Greater"),
            ]
            rename = _Renamer(tag, {"x": x})
            then_nodes = rename.nodes(expert.model.graph)
            initializers += rename.initializers(expert.model.graph)
            then_nodes.append(helper.make_node("Mul", [rename("y"), f"{tag}.w"], [f"{tag}.then"], name=f"{tag}/weighted"))
            then_branch = helper.make_graph(then_nodes, f"{tag}.then_branch", [], [_value(f"{tag}.then", y_info)])
            shape = numpy_helper.from_array(np.array(y_info["shape"], np.int64))
            zeros = numpy_helper.from_array(np.zeros(1, np.float32))
            else_branch = helper.make_graph(
                [helper.make_node("Constant", [], [f"{tag}.shape"], value=shape, name=f"{tag}/shape"),
                 helper.make_node("ConstantOfShape", [f"{tag}.shape"], [f"{tag}.else"], value=zeros, name=f"{tag}/zeros")],
                f"{tag}.else_branch", [], [_value(f"{tag}.else", y_info)],
            )
            nodes.append(helper.make_node("If", [f"{tag}.cond"], [f"{tag}.y"], then_branch=then_branch, else_branch=else_branch, name=f"{tag}/If"))
            branch_outputs.append(f"{tag}.y")
        nodes.append(helper.make_node("Sum", branch_outputs, [step["mixed"]], name=f"{layer}/Sum"))
    produced = {name for node in nodes for name in node.output}
    inputs = list({i["name"]: i for g in segmented.graphs if g.name.startswith("segment") for i in g.inputs if i["name"] not in produced}.values())
    graph = helper.make_graph(nodes, "edge_moe_if", [_value(i["name"], i) for i in inputs], [_value(o["name"], o) for o in outputs], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="edge-moe")
    model.ir_version = graphs["segment0"].model.ir_version
    metadata = {p.key: p.value for p in graphs["segment0"].model.metadata_props}
    set_metadata(model, {**metadata, "edge_moe.graph": "model", "edge_moe.lowering": "if"})
    plan = {"steps": [{"run": "model"}], "slot_masks": segmented.plan.get("slot_masks", {})}
    return Lowered(segmented.routing, "if", [Graph("model", model, inputs, outputs)], plan)
