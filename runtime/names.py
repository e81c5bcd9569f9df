"""The tensor names a bundle's graphs and plan share, defined once (the exporter writes them, the runtime reads them).

``{layer}.x`` is an MoE layer's input, ``{layer}.ids`` (B, K) int64 and ``{layer}.weights`` (B, K)
float32 its routing, ``{layer}.y{k}`` the output of the expert in slot k, ``{layer}.mixed`` their
weighted sum (the If form), ``{layer}.slot_mask`` (1, K) the run-time K' <= K as a mask. A batched
sparse plan also has the executor's own ``{layer}.x.grouped`` / ``{layer}.y.grouped``: the images that
chose one expert, gathered, and that expert's outputs before they are scattered to the slots.
"""
from __future__ import annotations


def moe_input(layer: str) -> str:
    return f"{layer}.x"


def ids(layer: str) -> str:
    return f"{layer}.ids"


def weights(layer: str) -> str:
    return f"{layer}.weights"


def slot(layer: str, k: int) -> str:
    return f"{layer}.y{k}"


def grouped_input(layer: str) -> str:
    return f"{layer}.x.grouped"


def grouped_output(layer: str) -> str:
    return f"{layer}.y.grouped"


def mixed(layer: str) -> str:
    return f"{layer}.mixed"


def slot_mask(layer: str) -> str:
    return f"{layer}.slot_mask"


def expert_graph(layer: str, expert: int) -> str:
    return f"{layer}.expert{expert}"


def routing(layer: str) -> tuple[str, str]:
    """(ids, weights) of one layer."""
    return ids(layer), weights(layer)
