"""Checks a parsed TensorRT network against its bundle before building (pure: no tensorrt import).

Two checks, each a one-line error naming the graph and the tensor or layer:
  - I/O: the network's input and output names, shapes and dtypes equal the manifest's graph I/O
    (what the plan executor feeds and reads); a dynamic dimension (-1) matches the manifest's size, the
    largest the runtime binds (:func:`profile_shapes` makes the optimization profile for it);
  - FP16 precision of a strongly typed network: the routing layers (router, Softmax, TopK, routing
    weights, decoding; :mod:`edge_moe.exporters.precision`) output FP32 and the convolutions FP16.
Weakly typed FP16 builds (TensorRT 8.5-10) pin the same layers instead; there the dtypes are only
known after the build, so the precision check applies to strongly typed networks.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from edge_moe.errors import UserError
from edge_moe.exporters.engine_policy import pin_to_fp32
from edge_moe.runtime.backends.base import same_shape
from edge_moe.runtime.schema import TensorSpec

# TensorRT DataType member -> the numpy dtype name the manifest uses
DTYPES = {"FLOAT": "float32", "HALF": "float16", "BF16": "bfloat16", "INT64": "int64", "INT32": "int32",
          "INT8": "int8", "UINT8": "uint8", "BOOL": "bool"}
FLOATING = ("FLOAT", "HALF", "BF16")



@dataclass(frozen=True)
class Layer:
    name: str
    type: str  # TensorRT LayerType member, e.g. "CONVOLUTION"
    outputs: tuple[str, ...]  # TensorRT DataType member of each output, e.g. "HALF"


def check_io(graph: str, kind: str, expected: Sequence[TensorSpec], parsed: Sequence[TensorSpec]) -> None:
    """``kind`` is "input" or "output"; the parsed network must have exactly the manifest's tensors."""
    if [t.name for t in parsed] != [t.name for t in expected]:
        raise UserError(f"graph {graph}: network {kind}s {[t.name for t in parsed]} differ from the manifest's {[t.name for t in expected]}")
    for want, got in zip(expected, parsed):
        if not same_shape(got.shape, want.shape) or got.dtype != want.dtype:
            raise UserError(f"graph {graph}: {kind} {got.name} is {list(got.shape)} {got.dtype} in the network, "
                            f"the manifest says {list(want.shape)} {want.dtype}")


def profile_shapes(network_shape: Sequence[int], manifest_shape: Sequence[int]) -> Optional[tuple[tuple[int, ...], ...]]:
    """(min, opt, max) of an optimization profile for an input with dynamic dimensions (-1 in the network; a batched
    bundle's expert runs on 1..B images), from the manifest's shape (the largest); None for a static input."""
    if all(d > 0 for d in network_shape):
        return None
    smallest = tuple(1 if d < 0 else d for d in network_shape)
    return smallest, tuple(manifest_shape), tuple(manifest_shape)


def check_fp16_precision(graph: str, layers: list[Layer]) -> None:
    """Routing layers must output FP32 and convolutions FP16 in a strongly typed FP16 network."""
    for layer in layers:
        floating = [dtype for dtype in layer.outputs if dtype in FLOATING]
        if layer.type in ("CAST", "CONSTANT") or not floating:
            continue  # casts are where precision changes; weights are stored as exported; index and shape tensors have none
        if pin_to_fp32(layer.name, layer.type):
            if any(dtype != "FLOAT" for dtype in floating):
                raise UserError(f"graph {graph}: routing layer {layer.name} ({layer.type}) outputs {floating[0]}, expected FLOAT "
                                "(routing must stay FP32 in FP16 engines; re-export the bundle)")
        elif layer.type == "CONVOLUTION" and any(dtype != "HALF" for dtype in floating):
            raise UserError(f"graph {graph}: convolution {layer.name} outputs {floating[0]} in an FP16 build, expected HALF "
                            "(is graphs/fp16 the FP16 ONNX? re-export the bundle)")
