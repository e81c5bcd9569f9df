"""Execution contexts on one shared activation scratch, for each TensorRT API generation (fake modules: no GPU)."""
from __future__ import annotations

from types import SimpleNamespace

from edge_moe.runtime.backends.tensorrt_contexts import activation_bytes, context_on_shared_memory

STRATEGIES = SimpleNamespace(STATIC=0, ON_PROFILE_CHANGE=1, USER_MANAGED=2)


class Context:
    def __init__(self, how):
        self.how, self.memory = how, None

    def set_device_memory(self, pointer, size):
        self.memory = (pointer, size)


class Engine:
    device_memory_size, device_memory_size_v2 = 100, 300

    def create_execution_context(self, how=STRATEGIES.STATIC):
        return Context(how)

    def create_execution_context_without_device_memory(self):
        return SimpleNamespace(how="without", device_memory=None)


class RuntimeConfig:
    strategy = STRATEGIES.STATIC

    def set_execution_context_allocation_strategy(self, strategy):
        self.strategy = strategy


def scratch():
    return 0xA000, 4096


def test_tensorrt_10_contexts_are_user_managed_on_the_shared_scratch():
    context = context_on_shared_memory(SimpleNamespace(ExecutionContextAllocationStrategy=STRATEGIES), Engine(), None, scratch)
    assert context.how == STRATEGIES.USER_MANAGED and context.memory == (0xA000, 4096)


def test_tensorrt_rtx_sets_the_strategy_on_its_runtime_config():
    config = RuntimeConfig()
    context = context_on_shared_memory(SimpleNamespace(ExecutionContextAllocationStrategy=STRATEGIES), Engine(), config, scratch)
    assert config.strategy == STRATEGIES.USER_MANAGED and context.how is config and context.memory == (0xA000, 4096)


def test_tensorrt_8_contexts_are_made_without_memory_and_pointed_at_the_scratch():
    context = context_on_shared_memory(SimpleNamespace(), Engine(), None, scratch)
    assert context.how == "without" and context.device_memory == 0xA000


def test_activation_bytes_prefers_the_largest_over_profiles():
    assert activation_bytes(Engine()) == 300
    assert activation_bytes(SimpleNamespace(device_memory_size=100)) == 100
