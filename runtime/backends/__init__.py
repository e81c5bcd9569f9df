"""Inference backends behind one small interface, chosen by name and imported lazily.

A :class:`Backend` is the execution context of one bundle: it allocates the executor's buffers on
its device and opens the bundle's graphs (ONNX, or TensorRT engines) as sessions bound to them. The
plan executor runs a bundle through a backend and does not care which one it is.
"""
from edge_moe.runtime.backends.base import BACKENDS, Backend, DeviceBuffer, GraphSession

__all__ = ["BACKENDS", "Backend", "DeviceBuffer", "GraphSession"]
