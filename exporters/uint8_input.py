"""Preprocessing inside the first graph: the runtime uploads the letterboxed frame as uint8.

``edge-moe export --uint8-input`` rewrites the graph that reads ``images``: its input becomes the
letterboxed BGR frame as it comes from OpenCV, ``(1, H, W, 3) uint8``, and the graph itself casts,
reorders BGR -> RGB, transposes to NCHW and normalises (``x * scale - mean) / std``). A quarter of
the bytes of a float32 frame crosses to the device, and the arithmetic runs there instead of in numpy.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

PREFIX = "uint8_input"


def with_uint8_input(model: onnx.ModelProto, name: str, scale: float, mean: Sequence[float], std: Sequence[float],
                     rgb: bool = True) -> onnx.ModelProto:
    """A copy of ``model`` whose float32 NCHW input ``name`` becomes uint8 NHWC BGR, converted in-graph."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    index = next(i for i, value in enumerate(graph.input) if value.name == name)
    batch, channels, height, width = (d.dim_value for d in graph.input[index].type.tensor_type.shape.dim)
    converted = f"{PREFIX}/{name}"
    for node in graph.node:
        node.input[:] = [converted if value == name else value for value in node.input]
    graph.input.remove(graph.input[index])
    graph.input.insert(index, helper.make_tensor_value_info(name, TensorProto.UINT8, [batch, height, width, channels]))

    mean_over_std = np.asarray(mean, np.float32).reshape(1, channels, 1, 1) / np.asarray(std, np.float32).reshape(1, channels, 1, 1)
    scale_over_std = np.float32(scale) / np.asarray(std, np.float32).reshape(1, channels, 1, 1)
    constants = {
        f"{PREFIX}/rgb_order": np.array([2, 1, 0], np.int64),
        f"{PREFIX}/scale": scale_over_std.astype(np.float32),  # (1, 3, 1, 1)
        f"{PREFIX}/offset": mean_over_std.astype(np.float32),  # (1, 3, 1, 1)
    }
    graph.initializer.extend(numpy_helper.from_array(value, key) for key, value in constants.items())
    nodes = [
        helper.make_node("Cast", [name], [f"{PREFIX}/float"], name=f"/{PREFIX}/Cast", to=TensorProto.FLOAT),
        helper.make_node("Transpose", [f"{PREFIX}/float"], [f"{PREFIX}/nchw"], name=f"/{PREFIX}/Transpose", perm=[0, 3, 1, 2]),
    ]
    last = f"{PREFIX}/nchw"
    if rgb:
        nodes.append(helper.make_node("Gather", [last, f"{PREFIX}/rgb_order"], [f"{PREFIX}/rgb"], name=f"/{PREFIX}/Gather", axis=1))
        last = f"{PREFIX}/rgb"
    nodes += [
        helper.make_node("Mul", [last, f"{PREFIX}/scale"], [f"{PREFIX}/scaled"], name=f"/{PREFIX}/Mul"),
        helper.make_node("Sub", [f"{PREFIX}/scaled", f"{PREFIX}/offset"], [converted], name=f"/{PREFIX}/Sub"),
    ]
    for position, node in enumerate(nodes):
        graph.node.insert(position, node)
    onnx.checker.check_model(model)
    return model


def as_uint8_frames(images: np.ndarray, rgb: bool = True) -> np.ndarray:
    """(N, 3, H, W) float32 in [0, 1] -> (N, H, W, 3) uint8 BGR: the frames a uint8-input bundle takes."""
    frames = np.clip(np.rint(images * 255.0), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)  # (N, H, W, 3) RGB
    return np.ascontiguousarray(frames[..., ::-1] if rgb else frames)


def from_uint8_frames(frames: np.ndarray, rgb: bool = True) -> np.ndarray:
    """The float32 (N, 3, H, W) images in [0, 1] that the graph computes from uint8 BGR frames (scale 1/255)."""
    ordered = frames[..., ::-1] if rgb else frames
    return np.ascontiguousarray(ordered.transpose(0, 3, 1, 2).astype(np.float32) * np.float32(1 / 255))
