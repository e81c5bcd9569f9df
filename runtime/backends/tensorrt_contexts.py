"""Execution contexts that share one activation scratch (pure: the tensorrt module is passed in, no CUDA here).

The TensorRT backend makes one execution context per binding (tensor addresses are per context): an expert bound
once per slot, and in a batched bundle once per row count. Left to TensorRT, every context allocates the largest
activation memory its engine can need, so a sparse bundle would hold dozens of copies. All of a bundle's contexts run
one after another on one stream, so they can share one scratch block as large as the largest engine needs: the
contexts are created without memory of their own and pointed at it (TensorRT 10 and TensorRT-RTX: the
``USER_MANAGED`` allocation strategy; TensorRT 8.5/8.6 on JetPack 5: ``create_execution_context_without_device_memory``).
"""
from __future__ import annotations

from typing import Any, Callable, Optional


def activation_bytes(engine: Any) -> int:
    """The activation memory an engine's context needs, the largest over its optimization profiles."""
    size = getattr(engine, "device_memory_size_v2", None)
    return int(size if size is not None else engine.device_memory_size)


def context_on_shared_memory(trt: Any, engine: Any, runtime_config: Optional[Any], scratch: Callable[[], tuple[int, int]]) -> Any:
    """A new execution context of ``engine`` whose activations live in the shared ``scratch()`` -> (pointer, bytes)."""
    strategy = getattr(trt, "ExecutionContextAllocationStrategy", None)
    if runtime_config is not None:  # TensorRT-RTX (and TensorRT 10.x with a runtime config)
        runtime_config.set_execution_context_allocation_strategy(strategy.USER_MANAGED)
        context = engine.create_execution_context(runtime_config)
    elif strategy is not None:  # TensorRT 10
        context = engine.create_execution_context(strategy.USER_MANAGED)
    else:  # TensorRT 8.5 / 8.6
        context = engine.create_execution_context_without_device_memory()
    pointer, size = scratch()
    if hasattr(context, "set_device_memory"):  # TensorRT >= 10.1: the size is checked against the engine's need
        context.set_device_memory(pointer, size)
    else:
        context.device_memory = pointer
    return context
