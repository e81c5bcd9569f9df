"""Inference backends behind one small interface, chosen by name and imported lazily.

A backend opens one graph file (ONNX, or a TensorRT engine) as a :class:`GraphSession`. The plan
executor runs a bundle's graphs through sessions and does not care which backend made them.
"""
from edge_moe.runtime.backends.base import BACKENDS, GraphSession, open_session

__all__ = ["BACKENDS", "GraphSession", "open_session"]
