"""FP16 ONNX: FP16 weights and compute with FP32 inputs and outputs, routing and decoding kept FP32.

This is the graph a strongly typed TensorRT network (TensorRT >= 11, where the FP16 builder flag
is gone) and ONNX Runtime's CUDA provider take for half precision. Which nodes stay FP32 is
decided by :mod:`edge_moe.exporters.precision`, the same policy the TensorRT builder applies.
"""
from __future__ import annotations

import copy
import logging

import onnx

from edge_moe.exporters.precision import fp32_nodes


def to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """Converts ``model`` to FP16 except the FP32 nodes; graph inputs and outputs stay FP32."""
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    keep = fp32_nodes([(node.name, node.op_type) for node in model.graph.node])
    logging.getLogger("onnxruntime.transformers.float16").setLevel(logging.ERROR)
    converted = convert_float_to_float16(
        copy.deepcopy(model),
        keep_io_types=True,
        node_block_list=keep,
        op_block_list=list(DEFAULT_OP_BLOCK_LIST),
    )
    restore_fp32_weights(converted, model)
    return converted


def restore_fp32_weights(converted: onnx.ModelProto, original: onnx.ModelProto) -> None:
    """The converter feeds some weights of FP32 nodes (the router's) through a Cast to FP32 (from
    an FP16 copy, or a no-op); put the original FP32 weights in place of the Cast."""
    graph = converted.graph
    originals = {init.name: init for init in original.graph.initializer if init.data_type == onnx.TensorProto.FLOAT}
    weights = {init.name for init in graph.initializer}
    restored, keep = [], []
    for node in graph.node:
        to = next((a.i for a in node.attribute if a.name == "to"), None)
        if node.op_type == "Cast" and to == onnx.TensorProto.FLOAT and node.input[0] in weights and node.input[0] in originals:
            weight = copy.deepcopy(originals[node.input[0]])
            weight.name = node.output[0]
            restored.append(weight)
        else:
            keep.append(node)
    del graph.node[:]
    graph.node.extend(keep)
    graph.initializer.extend(restored)
    used = {name for node in graph.node for name in node.input}
    unused = [init for init in graph.initializer if init.name not in used]
    for init in unused:
        graph.initializer.remove(init)
