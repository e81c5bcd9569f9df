"""Checks every exported graph must pass: ONNX checker, static shapes, TensorRT operator census.

A failed check raises :class:`ExportCheckError` (a one-line UserError naming the graph and what is
wrong); nothing is written to the output folder in that case.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import onnx
from onnx import numpy_helper

from edge_moe.errors import UserError, first_line
from edge_moe.exporters.onnx_graph import BATCH_DIM

# ONNX operators TensorRT's ONNX parser supports (onnx-tensorrt docs/operators.md, TensorRT 8.4-10),
# restricted to what a static-shape vision model can meet.
TENSORRT_OPS = frozenset(
    """Abs Acos Acosh Add And ArgMax ArgMin Asin Asinh Atan Atanh AveragePool BatchNormalization Cast Ceil
    Celu Clip Concat Constant ConstantOfShape Conv ConvTranspose Cos Cosh CumSum DepthToSpace
    DequantizeLinear Div Dropout Einsum Elu Equal Erf Exp Expand EyeLike Flatten Floor Gather
    GatherElements GatherND Gemm GlobalAveragePool GlobalLpPool GlobalMaxPool Greater GreaterOrEqual
    HardSigmoid HardSwish Identity If InstanceNormalization IsNaN LayerNormalization LeakyRelu Less
    LessOrEqual Log LogSoftmax LRN LpNormalization LpPool MatMul Max MaxPool Mean Min Mul Neg Not Or Pad
    Pow PRelu QuantizeLinear Range ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMax ReduceMean
    ReduceMin ReduceProd ReduceSum ReduceSumSquare Relu Reshape Resize Round ScatterElements ScatterND
    Selu Shape Sigmoid Sign Sin Sinh Size Slice Softmax Softplus Softsign SpaceToDepth Split Sqrt
    Squeeze Sub Sum Tan Tanh ThresholdedRelu Tile TopK Transpose Unsqueeze Upsample Where Xor""".split()
)
# Data-dependent shapes or control flow: fine for ONNX Runtime, a deployment hazard for TensorRT.
FORBIDDEN_OPS = frozenset({"NonZero", "Loop", "Scan", "Unique", "NonMaxSuppression", "Compress"})
TOPK_MAX_K = 3840  # TensorRT's limit on K


class ExportCheckError(UserError):
    """An exported graph failed a deployment check."""


@dataclass
class GraphReport:
    name: str
    ops: Counter = field(default_factory=Counter)
    nodes: int = 0
    topk: list[int] = field(default_factory=list)  # K of every TopK node

    def to_dict(self) -> dict:
        return {"name": self.name, "nodes": self.nodes, "ops": dict(sorted(self.ops.items())), "topk": self.topk}


def check_graph(model: onnx.ModelProto, name: str, allow_if: bool = False) -> GraphReport:
    """Runs all checks on one graph; returns its operator census."""
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as error:  # onnx raises ValidationError / InferenceError
        raise ExportCheckError(f"graph {name}: onnx.checker failed: {first_line(error)}") from None
    check_static_shapes(model, name)
    return census(model, name, allow_if)


def check_static_shapes(model: onnx.ModelProto, name: str) -> None:
    """Every input, output and intermediate tensor has a fully known shape after shape inference, except a
    first dimension named ``batch`` (a batched bundle's experts run on 1..B images)."""
    inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    graph = inferred.graph
    for value in [*graph.input, *graph.output, *graph.value_info]:
        tensor_type = value.type.tensor_type
        if not tensor_type.HasField("shape"):
            raise ExportCheckError(f"graph {name}: tensor {value.name!r} has no inferred shape (static shapes required)")
        dims = [d.dim_value if d.HasField("dim_value") else d.dim_param or None for d in tensor_type.shape.dim]
        if dims[:1] == [BATCH_DIM]:
            dims = dims[1:]
        if any(not isinstance(d, int) or d <= 0 for d in dims):
            raise ExportCheckError(f"graph {name}: tensor {value.name!r} has a dynamic shape {dims} (static shapes required)")


def census(model: onnx.ModelProto, name: str, allow_if: bool = False) -> GraphReport:
    """Counts operators and rejects those TensorRT cannot parse or that make shapes data-dependent."""
    report = GraphReport(name)
    initializers = {init.name: init for init in model.graph.initializer}
    for node in all_nodes(model.graph):
        report.ops[node.op_type] += 1
        report.nodes += 1
        if node.op_type in FORBIDDEN_OPS or (node.op_type == "If" and not allow_if):
            raise ExportCheckError(f"graph {name}: operator {node.op_type} ({node.name}) makes shapes or control flow data-dependent")
        if node.op_type not in TENSORRT_OPS:
            raise ExportCheckError(f"graph {name}: operator {node.op_type} ({node.name}) is not supported by TensorRT's ONNX parser")
        if node.op_type == "TopK":
            report.topk.append(topk_k(node, initializers, name))
    return report


def all_nodes(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    """Nodes of ``graph`` and of every subgraph (If branches)."""
    nodes = []
    for node in graph.node:
        nodes.append(node)
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                nodes += all_nodes(attribute.g)
    return nodes


def topk_k(node: onnx.NodeProto, initializers: dict, name: str) -> int:
    attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    if attributes.get("sorted", 1) != 1 or attributes.get("largest", 1) != 1:
        raise ExportCheckError(f"graph {name}: TopK {node.name} must be sorted=1, largest=1 for TensorRT")
    if node.input[1] not in initializers:
        raise ExportCheckError(f"graph {name}: TopK {node.name} K is not a constant initializer")
    k = int(numpy_helper.to_array(initializers[node.input[1]]).reshape(-1)[0])
    if not 0 < k < TOPK_MAX_K:
        raise ExportCheckError(f"graph {name}: TopK {node.name} K={k} must be in [1, {TOPK_MAX_K - 1}] for TensorRT")
    return k


def census_table(reports: list[GraphReport]) -> str:
    """Markdown table: operator, count over all graphs, graphs using it, TensorRT support."""
    totals: Counter = Counter()
    used_by: Counter = Counter()
    for report in reports:
        totals.update(report.ops)
        used_by.update(report.ops.keys())
    lines = ["| operator | nodes | graphs | TensorRT |", "|---|---:|---:|---|"]
    for op, count in sorted(totals.items(), key=lambda item: (-item[1], item[0])):
        support = "yes" if op in TENSORRT_OPS else "NO"
        if op == "TopK":
            ks = sorted({k for r in reports for k in r.topk})
            support = f"yes (K={','.join(map(str, ks))} constant, < {TOPK_MAX_K})"
        lines.append(f"| {op} | {count} | {used_by[op]} | {support} |")
    return "\n".join(lines)
