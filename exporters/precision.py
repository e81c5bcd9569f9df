"""Which graph nodes stay FP32 when the rest runs FP16 (shared by the FP16 ONNX and TensorRT builds).

Routing must not flip because of half precision: the router (GAP -> convs -> logits), softmax,
TopK and the renormalisation stay FP32, and so does the box decoding (pixel coordinates up to
the input size need more than FP16's 11 mantissa bits). Node names come from the exporter's module
scopes: router nodes carry ``/router/``; routing maths, the weighted combine and the decoding are
functions, not modules, so they sit at the graph's top scope (no module path).
"""
from __future__ import annotations

FP32_OPS = ("Softmax", "TopK")


def keep_fp32(node_name: str, op_type: str) -> bool:
    """True for nodes that must run in FP32 in an otherwise FP16 graph."""
    if op_type in FP32_OPS or "/router/" in node_name:
        return True
    scope = node_name.strip("/").split("/")
    return len(scope) <= 1  # top scope: routing maths, combine, decoding


def fp32_nodes(names_and_ops: list[tuple[str, str]]) -> list[str]:
    return [name for name, op in names_and_ops if keep_fp32(name, op)]
