"""PlanExecutor on a fake backend: the executor's own logic, with no torch, ONNX or export.

The fake "bundle" has one MoE layer of 3 experts (K=2): segment0 turns the image into ``x`` and
routes it (ids and weights are part of the fake graph, masked by the slot-mask input), expert e
computes ``(e + 1) * x``, segment1 mixes the two slots. Every bound call is logged, so what ran and which buffers it touched is visible.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_moe.errors import UserError
from edge_moe.runtime.backends.base import Backend, DeviceBuffer, GraphSession
from edge_moe.runtime.bundle import Bundle
from edge_moe.runtime.plan import PlanExecutor
from edge_moe.runtime.schema import Manifest

LAYER = "moe"
SHAPE = [1, 2, 4, 4]
FAKE_ROUTING: dict = {}  # bundle root -> (ids, weights) that segment0 "computes"


def spec(name: str, shape: list[int], dtype: str = "float32") -> dict:
    return {"name": name, "shape": shape, "dtype": dtype}


def fake_bundle(ids=(2, 0), weights=(0.75, 0.25), change=lambda graphs: None) -> Bundle:
    graphs = {
        "segment0": {"inputs": [spec("images", [1, 3, 4, 4]), spec(f"{LAYER}.slot_mask", [1, 2])],
                     "outputs": [spec(f"{LAYER}.x", SHAPE), spec(f"{LAYER}.ids", [1, 2], "int64"), spec(f"{LAYER}.weights", [1, 2])]},
        "segment1": {"inputs": [spec(f"{LAYER}.x", SHAPE), spec(f"{LAYER}.y0", SHAPE), spec(f"{LAYER}.y1", SHAPE), spec(f"{LAYER}.weights", [1, 2])],
                     "outputs": [spec("out", SHAPE)]},
        **{f"{LAYER}.expert{e}": {"inputs": [spec("x", SHAPE)], "outputs": [spec("y", SHAPE)]} for e in range(3)},
    }
    plan = {"steps": [
        {"run": "segment0"},
        {"experts": LAYER, "graphs": [f"{LAYER}.expert{e}" for e in range(3)], "input": f"{LAYER}.x",
         "ids": f"{LAYER}.ids", "weights": f"{LAYER}.weights", "outputs": [f"{LAYER}.y0", f"{LAYER}.y1"]},
        {"run": "segment1"},
    ], "slot_masks": {LAYER: f"{LAYER}.slot_mask"}}
    manifest = {"format": "edge-moe-bundle", "schema_version": 2, "task": "detect", "model": "fake", "class_names": [],
                "input": {"name": "images", "shape": [1, 3, 4, 4]}, "graphs": graphs, "plan": plan,
                "moe_layers": [{"name": LAYER, "experts": 3, "top_k": 2}], "routing": "sparse", "lowering": "segmented"}
    for entry in graphs.values():
        entry.update(file="graphs/none.onnx", sha256="0" * 64)
    change(graphs)
    bundle = Bundle(Path("/fake-bundle"), Manifest.parse(manifest, "fake"))
    FAKE_ROUTING[bundle.root] = (ids, weights)
    return bundle


class NumpyBuffer(DeviceBuffer):
    def __init__(self, name, shape, dtype):
        super().__init__(name, shape, dtype, "cpu")
        self.array = np.zeros(self.shape, self.dtype)

    def write(self, array):
        np.copyto(self.array, array.reshape(self.shape))

    def read(self):
        return self.array.copy()


class FakeGraph(GraphSession):
    def __init__(self, name: str, entry: dict, routing, log: list):
        self.name, self.routing, self.log = name, routing, log
        self.input_names = [t.name for t in entry.inputs]
        self.output_names = [t.name for t in entry.outputs]
        self.tensors = {t.name: (t.shape, np.dtype(t.dtype)) for t in (*entry.inputs, *entry.outputs)}

    def bind(self, inputs, outputs):
        def run():
            self.log.append((self.name, {n: b.name for n, b in {**inputs, **outputs}.items()}))
            i = {n: b.array for n, b in inputs.items()}
            o = {n: b.array for n, b in outputs.items()}
            if self.name == "segment0":
                o[f"{LAYER}.x"][:] = i["images"].mean()
                o[f"{LAYER}.ids"][:] = self.routing[0]
                masked = np.asarray(self.routing[1], np.float32) * i[f"{LAYER}.slot_mask"]  # K' <= K, renormalised in-graph
                o[f"{LAYER}.weights"][:] = masked / masked.sum()
            elif self.name == "segment1":
                w = i[f"{LAYER}.weights"][0]
                o["out"][:] = i[f"{LAYER}.x"] + w[0] * i[f"{LAYER}.y0"] + w[1] * i[f"{LAYER}.y1"]
            else:
                o["y"][:] = (int(self.name[-1]) + 1) * i["x"]

        return run


class FakeBackend(Backend):
    name, device = "fake", "cpu"

    def __init__(self, bundle: Bundle):
        self.bundle, self.log, self.closed = bundle, [], False

    def open(self, graph):
        return FakeGraph(graph, self.bundle.graphs[graph], FAKE_ROUTING[self.bundle.root], self.log)

    def allocate(self, name, shape, dtype):
        return NumpyBuffer(name, shape, dtype)

    def close(self):
        self.closed = True


def test_runs_only_the_chosen_experts_into_their_slots_and_mixes_them():
    bundle = fake_bundle(ids=(2, 0), weights=(0.75, 0.25))
    backend = FakeBackend(bundle)
    with PlanExecutor(bundle, backend) as executor:
        result = executor(np.ones((1, 3, 4, 4), np.float32))
    ran = [(name, buffers) for name, buffers in backend.log]
    assert [name for name, _ in ran] == ["segment0", f"{LAYER}.expert2", f"{LAYER}.expert0", "segment1"]
    assert ran[1][1] == {"x": f"{LAYER}.x", "y": f"{LAYER}.y0"} and ran[2][1] == {"x": f"{LAYER}.x", "y": f"{LAYER}.y1"}
    np.testing.assert_allclose(result.outputs["out"], 1 + 0.75 * 3 + 0.25 * 1)
    assert result.routing[0].ids.tolist() == [2, 0] and result.routing[0].weights.tolist() == [0.75, 0.25]
    assert result.host_bytes == 3 * 16 * 4 + (2 * 8 + 2 * 4) + 2 * 16 * 4  # frame + ids/weights + output
    assert not backend.closed  # a backend passed in stays the caller's


def test_top_k_prime_runs_fewer_experts_and_renormalises():
    bundle = fake_bundle(ids=(1, 2), weights=(0.6, 0.4))
    backend = FakeBackend(bundle)
    executor = PlanExecutor(bundle, backend)
    result = executor(np.ones((1, 3, 4, 4), np.float32), top_k=1)
    assert [name for name, _ in backend.log] == ["segment0", f"{LAYER}.expert1", "segment1"]
    assert result.routing[0].weights.tolist() == [1.0]
    np.testing.assert_allclose(result.outputs["out"], 1 + 1.0 * 2)  # slot 1 weighs 0: its stale buffer is ignored
    with pytest.raises(UserError, match=r"top_k must be an integer in \[1, 2\]"):
        executor(np.ones((1, 3, 4, 4), np.float32), top_k=3)


def test_manifest_that_disagrees_with_a_graph_is_one_line_at_load():
    def bigger_y0(graphs):  # y0 declared bigger in segment1 than the experts make
        graphs["segment1"]["inputs"][1]["shape"] = [1, 2, 8, 8]

    bundle = fake_bundle(change=bigger_y0)
    with pytest.raises(UserError, match=rf"tensor {LAYER}.y0 is \[1, 2, 8, 8\] float32 in graphs.segment1 but \[1, 2, 4, 4\]"):
        PlanExecutor(bundle, FakeBackend(bundle))


def test_graph_file_that_disagrees_with_the_manifest_is_one_line_at_load():
    bundle = fake_bundle()

    class Lying(FakeBackend):
        def open(self, graph):
            session = super().open(graph)
            if graph == "segment1":
                session.tensors["out"] = ((1, 2, 2, 2), np.dtype("float32"))
            return session

    with pytest.raises(UserError, match=r"graph segment1 tensor out is \[1, 2, 2, 2\] float32 in the graph file, but the manifest says \[1, 2, 4, 4\]"):
        PlanExecutor(bundle, Lying(bundle))


class CountingTimer:
    """A device timer that records where the executor brackets the call."""

    def __init__(self, log: list):
        self.log = log

    def start(self):
        self.log.append(("timer", "start"))

    def stop(self):
        self.log.append(("timer", "stop"))

    def elapsed_ms(self):
        return 6.0


def test_a_device_timer_brackets_every_graph_of_the_call():
    bundle = fake_bundle()
    backend = FakeBackend(bundle)
    backend.timer = lambda: CountingTimer(backend.log)
    with PlanExecutor(bundle, backend) as executor:
        result = executor(np.ones((1, 3, 4, 4), np.float32))
    names = [name if name != "timer" else f"timer {what}" for name, what in backend.log]
    assert names[0] == "timer start" and names[-1] == "timer stop" and len(names) == 6
    assert result.device_ms == 6.0
