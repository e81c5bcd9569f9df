"""load_bundle: schema, files inside the bundle, hashes, engine compatibility (torch-free)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_moe.errors import UserError


from edge_moe.runtime.schema import MoELayerSpec
from edge_moe.runtime.bundle import check_engine, engine_flavour, load_bundle, sha256_of


def make_bundle(root: Path, **overrides) -> Path:
    """A minimal valid bundle with one (opaque) graph file, written by hand."""
    (root / "graphs").mkdir(parents=True)
    (root / "graphs" / "model.onnx").write_bytes(b"graph bytes")
    manifest = {
        "format": "edge-moe-bundle",
        "schema_version": 2,
        "task": "detect",
        "model": "esmoe-pico",
        "class_names": ["a", "b", "c"],
        "input": {"name": "images", "shape": [1, 3, 64, 96], "color": "RGB", "scale": 1 / 255},
        "strides": [8, 16, 32],
        "decoding": {"boxes": {"name": "boxes", "format": "xyxy"}},
        "moe_layers": [{"name": "backbone.moe.p2", "experts": 4, "top_k": 2}],
        "routing": "dense",
        "lowering": "dense",
        "graphs": {"model": {"file": "graphs/model.onnx", "sha256": sha256_of(root / "graphs" / "model.onnx")}},
        "plan": {"steps": [{"run": "model"}]},
        "source": {"zoo": "esmoe-pico"},
        "versions": {"edge_moe": "0.1.0"},
        "engines": {},
    }
    manifest.update(overrides)
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def edit(root: Path, change) -> None:
    manifest = json.loads((root / "manifest.json").read_text())
    change(manifest)
    (root / "manifest.json").write_text(json.dumps(manifest))


def one_line_error(root: Path, **kwargs) -> str:
    with pytest.raises(UserError) as error:
        load_bundle(root, **kwargs)
    message = str(error.value)
    assert "\n" not in message
    return message


def test_valid_bundle_exposes_fields(tmp_path):
    bundle = load_bundle(make_bundle(tmp_path / "b"))
    assert bundle.input_size == (64, 96)
    assert bundle.class_names == ["a", "b", "c"]
    assert bundle.moe_layers == (MoELayerSpec("backbone.moe.p2", 4, 2),)
    assert bundle.graph_path("model") == tmp_path / "b" / "graphs" / "model.onnx"
    assert bundle.engines == {}


def test_not_a_bundle(tmp_path):
    assert "no manifest.json" in one_line_error(tmp_path)
    assert "not a bundle directory" in one_line_error(tmp_path / "missing")
    (tmp_path / "manifest.json").write_text("{not json")
    assert "invalid JSON" in one_line_error(tmp_path)


def test_schema_errors_name_the_field(tmp_path):
    root = make_bundle(tmp_path / "b")
    edit(root, lambda m: m.update(format="other"))
    assert "format" in one_line_error(root)
    edit(root, lambda m: m.update(format="edge-moe-bundle", schema_version=99))
    assert "schema_version 99" in one_line_error(root)
    edit(root, lambda m: (m.update(schema_version=2), m.pop("plan")))
    assert "missing field plan" in one_line_error(root)
    edit(root, lambda m: m.update(plan={"steps": [{"run": "nope"}]}, routing="dense"))
    assert "unknown graph" in one_line_error(root)
    edit(root, lambda m: m.update(plan={"steps": [{"run": "model"}]}, routing="magic"))
    assert "routing must be one of" in one_line_error(root)
    edit(root, lambda m: m.update(routing="dense", moe_layers=[{"name": "x", "experts": 2, "top_k": 3}]))
    assert "moe_layers[0]" in one_line_error(root)


def test_missing_and_altered_graph_files(tmp_path):
    root = make_bundle(tmp_path / "b")
    (root / "graphs" / "model.onnx").write_bytes(b"tampered")
    assert "sha256 does not match" in one_line_error(root)
    load_bundle(root, verify_hashes=False)  # hashes can be skipped, presence cannot
    (root / "graphs" / "model.onnx").unlink()
    assert "missing" in one_line_error(root, verify_hashes=False)


@pytest.mark.parametrize("path", ["../outside.onnx", "/etc/passwd", "graphs/../../x.onnx"])
def test_manifest_pointing_outside_the_bundle(tmp_path, path):
    root = make_bundle(tmp_path / "b")
    (tmp_path / "outside.onnx").write_bytes(b"graph bytes")
    edit(root, lambda m: m["graphs"]["model"].update(file=path))
    assert "outside the bundle" in one_line_error(root)


def test_symlink_escaping_the_bundle(tmp_path):
    root = make_bundle(tmp_path / "b")
    (tmp_path / "elsewhere.onnx").write_bytes(b"graph bytes")
    (root / "graphs" / "link.onnx").symlink_to(tmp_path / "elsewhere.onnx")
    edit(root, lambda m: m["graphs"]["model"].update(file="graphs/link.onnx"))
    assert "resolves outside the bundle" in one_line_error(root)


def engine_bundle(root: Path, **meta) -> Path:
    make_bundle(root)
    (root / "engines").mkdir()
    (root / "engines" / "model.engine").write_bytes(b"plan")
    graph_sha = sha256_of(root / "graphs" / "model.onnx")
    entry = {"file": "engines/model.engine", "sha256": sha256_of(root / "engines" / "model.engine"),
             "tensorrt": "10.3.0", "gpu": "Orin", "onnx_sha256": graph_sha, **meta}
    edit(root, lambda m: m.update(engines={"model": entry}))
    return root


def test_engine_for_another_tensorrt_or_gpu_is_refused(tmp_path):
    bundle = load_bundle(engine_bundle(tmp_path / "b"))
    assert check_engine(bundle, "model", "10.3.0", "Orin") == tmp_path / "b" / "engines" / "model.engine"
    with pytest.raises(UserError, match=r"TensorRT 10.3.0, this machine has TensorRT 8.6.2; rebuild with `edge-moe build-engine"):
        check_engine(bundle, "model", "8.6.2", "Orin")
    with pytest.raises(UserError, match=r"built for GPU 'Orin', this machine has 'NVIDIA A100'"):
        check_engine(bundle, "model", "10.3.0", "NVIDIA A100")


def test_tensorrt_rtx_engine_runs_on_any_gpu_of_its_compute_capabilities(tmp_path):
    bundle = load_bundle(engine_bundle(tmp_path / "b", flavour="tensorrt-rtx", tensorrt="1.7.1", gpu=None, compute_capabilities=["8.6", "8.9"]))
    assert engine_flavour(bundle).module == "tensorrt_rtx"
    check_engine(bundle, "model", "1.7.1", "NVIDIA GeForce RTX 3090", "8.6")
    check_engine(bundle, "model", "1.7.1", "NVIDIA L4", "8.9")
    with pytest.raises(UserError, match=r"targets compute capabilities \['8.6', '8.9'\], this GPU \(NVIDIA H100 80GB HBM3\) has 9.0; rebuild"):
        check_engine(bundle, "model", "1.7.1", "NVIDIA H100 80GB HBM3", "9.0")
    mixed = engine_bundle(tmp_path / "mixed", flavour="tensorrt-rtx")
    edit(mixed, lambda m: m["engines"].update(other={**m["engines"]["model"], "flavour": "tensorrt"}))
    with pytest.raises(UserError, match=r"engines have flavour\(s\) \['tensorrt', 'tensorrt-rtx'\]"):
        engine_flavour(load_bundle(mixed))


def test_version_compatible_engine_accepts_same_major(tmp_path):
    bundle = load_bundle(engine_bundle(tmp_path / "b", version_compatible=True))
    check_engine(bundle, "model", "10.7.0", "Orin")
    with pytest.raises(UserError, match="rebuild"):
        check_engine(bundle, "model", "11.0.0", "Orin")


def test_engine_built_from_another_graph_is_refused(tmp_path):
    bundle = load_bundle(engine_bundle(tmp_path / "b", onnx_sha256="0" * 64))
    with pytest.raises(UserError, match="another ONNX graph"):
        check_engine(bundle, "model", "10.3.0", "Orin")
