"""ONNX Runtime backend: CPU, CUDA and TensorRT execution providers, picked by availability."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import onnxruntime as ort

from edge_moe.errors import UserError, first_line
from edge_moe.runtime.backends.base import GraphSession

# Preferred order when the caller does not choose; only the available ones are used.
DEFAULT_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


def pick_providers(requested: Optional[Sequence[str]] = None) -> list[str]:
    available = ort.get_available_providers()
    if requested:
        missing = [p for p in requested if p not in available]
        if missing:
            raise UserError(f"ONNX Runtime providers {missing} are not available here; available: {available}")
        return list(requested)
    return [p for p in DEFAULT_PROVIDERS if p in available]


class OnnxRuntimeSession(GraphSession):
    def __init__(self, path: Path, providers: Optional[Sequence[str]] = None, threads: int = 0, spin: bool = True):
        if not path.is_file():
            raise UserError(f"{path}: ONNX graph not found")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        if not spin:  # idle pool threads sleep instead of spinning: many small graphs share few cores
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(path), options, providers=pick_providers(providers))
        except Exception as error:  # ORT raises its own exception types for invalid graphs
            raise UserError(f"{path}: ONNX Runtime could not load the graph: {first_line(error)}") from None
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.providers = self.session.get_providers()

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = self.session.run(self.output_names, {name: feeds[name] for name in self.input_names})
        return dict(zip(self.output_names, outputs))
