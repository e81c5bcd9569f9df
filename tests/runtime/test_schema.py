"""The typed manifest: one reader that validates, one writer, and a round trip between them."""
from __future__ import annotations

import copy

import pytest

from edge_moe.runtime.schema import ExpertsStep, Manifest, ManifestError, RunStep

WHERE = "b/manifest.json"


def manifest_data() -> dict:
    tensor = lambda name, shape, dtype="float32": {"name": name, "shape": shape, "dtype": dtype}  # noqa: E731
    return {
        "format": "edge-moe-bundle", "schema_version": 2, "task": "detect", "model": "esmoe-pico", "class_names": ["a", "b"],
        "input": {"name": "images", "shape": [1, 3, 64, 96], "dtype": "float32", "layout": "NCHW", "color": "RGB",
                  "scale": 1 / 255, "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0], "letterbox": {"pad_value": 114}},
        "strides": [8, 16, 32], "decoding": {"boxes": {"name": "boxes"}},
        "moe_layers": [{"name": "m", "experts": 3, "top_k": 2}], "routing": "sparse", "lowering": "segmented",
        "graphs": {
            "segment0": {"file": "graphs/segment0.onnx", "sha256": "0" * 64, "inputs": [tensor("images", [1, 3, 64, 96])],
                         "outputs": [tensor("m.x", [1, 8, 8, 8]), tensor("m.ids", [1, 2], "int64"), tensor("m.weights", [1, 2])],
                         "fp16": {"file": "graphs/fp16/segment0.onnx", "sha256": "1" * 64}},
            **{f"m.expert{e}": {"file": f"graphs/m.expert{e}.onnx", "sha256": "2" * 64, "inputs": [tensor("x", [1, 8, 8, 8])],
                                "outputs": [tensor("y", [1, 8, 8, 8])]} for e in range(3)},
        },
        "plan": {"steps": [{"run": "segment0"}, {"experts": "m", "graphs": ["m.expert0", "m.expert1", "m.expert2"], "input": "m.x",
                                                  "ids": "m.ids", "weights": "m.weights", "outputs": ["m.y0", "m.y1"]}]},
        "source": {"zoo": "esmoe-pico"}, "versions": {"edge_moe": "0.1.0"},
        "engines": {"segment0": {"file": "engines/segment0.engine", "sha256": "3" * 64, "tensorrt": "10.3.0", "flavour": "tensorrt"}},
        "config": {"name": "esmoe-pico"},
    }


def test_round_trip_and_typed_fields():
    data = manifest_data()
    manifest = Manifest.parse(copy.deepcopy(data), WHERE)
    assert manifest.to_json() == data
    assert manifest.input.size == (64, 96) and manifest.moe_layers[0].top_k == 2
    assert manifest.plan.steps[0] == RunStep("segment0") and isinstance(manifest.plan.steps[1], ExpertsStep)
    assert manifest.graphs["segment0"].outputs[1].dtype == "int64" and manifest.graphs["segment0"].fp16.file.endswith(".onnx")
    assert manifest.engines["segment0"].get("tensorrt") == "10.3.0"
    assert [path for path, _ in manifest.files()] == ["graphs.segment0", "graphs.segment0.fp16", "graphs.m.expert0",
                                                      "graphs.m.expert1", "graphs.m.expert2", "engines.segment0"]


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("graphs"), "missing field graphs"),
    (lambda d: d.update(task="segment"), r"task must be one of \['detect', 'classify'\], got 'segment'"),
    (lambda d: d["input"].update(shape=[1, 4, 64, 64]), r"input.shape must be \[B, 3, H, W\] \(NCHW\), got \[1, 4, 64, 64\]"),
    (lambda d: d["input"].update(std=[1, 0, 1]), r"input.std must be a list of 3 numbers \(non-zero\)"),
    (lambda d: d["moe_layers"][0].update(top_k=5), r"moe_layers\[0\].top_k must be in \[1, 3\] \(experts\), got 5"),
    (lambda d: d["graphs"]["segment0"]["outputs"][1].update(dtype="int7"), r"graphs.segment0.outputs\[1\].dtype must be one of"),
    (lambda d: d["graphs"]["segment0"]["inputs"][0].update(shape=[1, -3]), r"graphs.segment0.inputs\[0\].shape must be a list of positive"),
    (lambda d: d["plan"]["steps"].append({"run": "nope"}), r"plan.steps\[2\] names unknown graph\(s\) \['nope'\]"),
    (lambda d: d["plan"]["steps"].append({"walk": "x"}), r"plan.steps\[2\] must be \{run: GRAPH\}"),
    (lambda d: d["engines"]["segment0"].pop("sha256"), "missing field engines.segment0.sha256"),
    (lambda d: d.update(schema_version=7), "schema_version 7 is not supported"),
])
def test_bad_fields_are_one_line_errors_naming_the_field(change, message):
    data = manifest_data()
    change(data)
    with pytest.raises(ManifestError, match=message) as error:
        Manifest.parse(data, WHERE)
    assert str(error.value).startswith(WHERE) and "\n" not in str(error.value)
