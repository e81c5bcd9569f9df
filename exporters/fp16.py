"""FP16 ONNX: FP16 weights and compute with FP32 inputs and outputs, routing and decoding kept FP32.

This is the graph a strongly typed TensorRT network (TensorRT >= 11, where the FP16 builder flag
is gone) and ONNX Runtime's CUDA provider take for half precision. Which nodes stay FP32 is
decided by :mod:`edge_moe.exporters.precision`, the same policy the TensorRT builder applies.
"""
from __future__ import annotations

import logging

import onnx

from edge_moe.exporters.precision import fp32_nodes


def to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """Converts ``model`` to FP16 except the FP32 nodes; graph inputs and outputs stay FP32."""
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    keep = fp32_nodes([(node.name, node.op_type) for node in model.graph.node])
    logging.getLogger("onnxruntime.transformers.float16").setLevel(logging.ERROR)
    return convert_float_to_float16(
        model,
        keep_io_types=True,
        node_block_list=keep,
        op_block_list=list(DEFAULT_OP_BLOCK_LIST),
        disable_shape_infer=False,
    )
