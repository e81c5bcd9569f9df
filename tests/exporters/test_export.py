"""Export of every zoo detector in both lowerings, parity, bundle contents, bad input."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnx
import pytest

from edge_moe.cli import main
from edge_moe.errors import UserError
from edge_moe.exporters.export import export_with_report
from edge_moe.models import list_models
from edge_moe.runtime.bundle import load_bundle

IMGSZ = 64


@pytest.mark.slow
@pytest.mark.parametrize("name", list_models(task="detect"))
def test_zoo_exports_pass_checks_and_parity(name, tmp_path):
    report = export_with_report(name, tmp_path / "sparse", imgsz=IMGSZ, routing="sparse", parity_count=1, other_out=tmp_path / "dense")
    parity = report.parity
    bundle = load_bundle(tmp_path / "sparse")
    routed = bool(bundle.moe_layers)
    for key in ("sparse", "dense", "sparse_vs_dense") if routed else ("sparse",):
        assert parity[key]["boxes_max_norm_diff"] <= 1e-4, key
        assert parity[key]["scores_max_abs_diff"] <= 1e-4, key
        assert parity[key]["routing_ids_identical"], key
    assert parity["sparse_vs_dense"]["boxes_max_abs_diff"] == 0.0 if routed else True
    assert parity["fp16_onnxruntime_cpu"]["routing_agreement"] >= 0.99
    assert parity["fp16_onnxruntime_cpu"]["boxes_max_abs_diff"] < 1.0  # pixels at 64x64
    if routed:
        experts = sum(layer.experts for layer in bundle.moe_layers)
        assert bundle.manifest.lowering == "segmented"
        assert len(bundle.graphs) == experts + len(bundle.moe_layers) + 1
        dense = load_bundle(tmp_path / "dense")
        assert dense.manifest.lowering == "dense" and list(dense.graphs) == ["model"]
    assert all(r.topk == [] or set(r.topk) <= {layer.top_k for layer in bundle.moe_layers} for r in report.graphs)


@pytest.fixture
def pico(pico_bundles) -> Path:
    return pico_bundles["sparse"]


def test_manifest_describes_the_bundle(pico):
    bundle = load_bundle(pico)
    m = json.loads((pico / "manifest.json").read_text())  # the format on disk
    assert m["format"] == "edge-moe-bundle" and m["schema_version"] == 2 and m["task"] == "detect"
    assert m["input"]["shape"] == [1, 3, IMGSZ, IMGSZ] and m["input"]["color"] == "RGB"
    assert m["input"]["letterbox"]["pad_value"] == 114 and m["strides"] == [8, 16, 32]
    assert m["decoding"]["boxes"]["format"] == "xyxy" and "runtime" in m["decoding"]["nms"]
    assert [l.name for l in bundle.moe_layers] == [f"backbone.moe.p{s}" for s in (2, 3, 4, 5)]
    assert m["routing"] == "sparse" and m["source"] == {"zoo": "esmoe-pico", "weights": "initialised (untrained)"}
    assert m["versions"]["opset"] == 17 and m["checks"]["parity"]["sparse"]["routing_ids_identical"]
    steps = m["plan"]["steps"]
    assert [s.get("run") for s in steps if "run" in s] == [f"segment{i}" for i in range(5)]
    assert [s["experts"] for s in steps if "experts" in s] == [l.name for l in bundle.moe_layers]


def test_graphs_carry_metadata_and_static_io(pico):
    bundle = load_bundle(pico)
    for name, entry in bundle.graphs.items():
        model = onnx.load(str(bundle.graph_path(name)))
        meta = {p.key: p.value for p in model.metadata_props}
        assert meta["edge_moe.graph"] == name and meta["edge_moe.model"] == "esmoe-pico"
        assert meta["edge_moe.routing"] == "sparse" and meta["edge_moe.imgsz"] == str(IMGSZ)
        assert [i.name for i in model.graph.input] == [i.name for i in entry.inputs]
        for value in model.graph.output:
            assert all(d.dim_value > 0 for d in value.type.tensor_type.shape.dim)
        if name.startswith("segment") and name != "segment4":
            ids = next(o for o in model.graph.output if o.name.endswith(".ids"))
            assert ids.type.tensor_type.elem_type == onnx.TensorProto.INT64


def test_fp16_graphs_keep_io_and_routing_in_fp32(pico):
    bundle = load_bundle(pico)
    model = onnx.load(str(bundle.graph_path("segment1", "fp16")))
    assert {i.type.tensor_type.elem_type for i in model.graph.input} == {onnx.TensorProto.FLOAT}
    assert {o.type.tensor_type.elem_type for o in model.graph.output} <= {onnx.TensorProto.FLOAT, onnx.TensorProto.INT64}
    init_types = {i.name: i.data_type for i in model.graph.initializer}
    assert onnx.TensorProto.FLOAT16 in init_types.values()
    router_convs = [n for n in model.graph.node if n.op_type == "Conv" and "/router/" in n.name]
    backbone_convs = [n for n in model.graph.node if n.op_type == "Conv" and "/router/" not in n.name]
    assert router_convs and all(init_types.get(n.input[1]) == onnx.TensorProto.FLOAT for n in router_convs)
    assert backbone_convs and all(init_types[n.input[1]] == onnx.TensorProto.FLOAT16 for n in backbone_convs)


def test_info_reads_a_bundle(pico, capsys):
    code, out, _ = cli(capsys, "info", str(pico), "--json")
    info = json.loads(out)
    assert code == 0 and info["model"] == "esmoe-pico" and info["routing"] == "sparse" and info["graphs"] == 21
    assert info["input"] == [1, 3, IMGSZ, IMGSZ] and len(info["moe_layers"]) == 4 and info["engines"] == {}
    code, out, _ = cli(capsys, "info", str(pico))
    assert code == 0 and "sparse (segmented lowering), 21 graphs" in out and "backbone.moe.p5" in out
    code, _, err = cli(capsys, "info", str(pico / "graphs"))
    assert code == 2 and "no manifest.json" in err


def test_altered_bundle_is_refused(pico, tmp_path, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(pico, copy)
    graph = copy / "graphs" / "backbone.moe.p3.expert1.onnx"
    graph.write_bytes(graph.read_bytes()[:-10])
    code, _, err = cli(capsys, "info", str(copy))
    assert code == 2 and "backbone.moe.p3.expert1.onnx: sha256 does not match" in err and err.count("\n") == 1
    graph.unlink()
    code, _, err = cli(capsys, "info", str(copy))
    assert code == 2 and "expert1.onnx: missing" in err


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_cli_export_json(tmp_path, capsys):
    code, out, _ = cli(capsys, "export", "--model", "yolo-pico", "--out", str(tmp_path / "b"), "--imgsz", "64", "--routing", "dense", "--json", "--parity-images", "1")
    assert code == 0
    report = json.loads(out)
    assert report["routing"] == "dense" and report["parity"]["dense"]["boxes_max_norm_diff"] <= 1e-4
    assert report["graphs"][0]["ops"]["Conv"] > 0
    load_bundle(tmp_path / "b")


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--model", "esmoe-pico", "--imgsz", "100"], "imgsz must be a positive multiple of 32"),
        (["--model", "esmoe-pico", "--routing", "magic"], "routing must be one of ['sparse', 'dense']"),
        (["--model", "esmoe-pico", "--opset", "7"], "opset must be in [13, 20]"),
        (["--model", "esmoe-nope"], "unknown model 'esmoe-nope'"),
    ],
)
def test_cli_bad_options(tmp_path, capsys, argv, expected):
    code, out, err = cli(capsys, "export", *argv, "--out", str(tmp_path / "b"))
    assert code == 2 and expected in err and err.count("\n") == 1
    assert not (tmp_path / "b").exists() and leftovers(tmp_path) == []


def test_cli_not_a_checkpoint(tmp_path, capsys):
    fake = tmp_path / "fake.pt"
    fake.write_bytes(b"definitely not a checkpoint")
    code, _, err = cli(capsys, "export", "--weights", str(fake), "--out", str(tmp_path / "b"))
    assert code == 2 and "not an edge-moe checkpoint" in err and err.count("\n") == 1
    assert not (tmp_path / "b").exists()


def test_unwritable_or_occupied_out(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = cli(capsys, "export", "--model", "yolo-pico", "--imgsz", "64", "--out", str(blocker / "b"))
    assert code == 2 and "cannot write the bundle there" in err
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "precious.txt").write_text("keep me")
    code, _, err = cli(capsys, "export", "--model", "yolo-pico", "--imgsz", "64", "--out", str(occupied))
    assert code == 2 and "is not an edge-moe bundle" in err
    assert (occupied / "precious.txt").read_text() == "keep me"


def test_failed_check_leaves_nothing_and_keeps_the_old_bundle(tmp_path, monkeypatch):
    import edge_moe.exporters.export as export_module

    out = tmp_path / "b"
    export_with_report("yolo-pico", out, imgsz=64, parity_count=1)
    before = (out / "manifest.json").read_text()
    monkeypatch.setattr(export_module, "parity_failures", lambda report: ["sparse: boxes_max_abs_diff = 1 > 0.0001"])
    with pytest.raises(UserError, match="parity check failed for yolo-pico: sparse: boxes_max_abs_diff"):
        export_with_report("yolo-pico", out, imgsz=96, parity_count=1)
    assert (out / "manifest.json").read_text() == before
    assert leftovers(tmp_path) == []


def test_checkpoint_export_records_its_hash(tmp_path):
    from edge_moe.checkpoint import save_checkpoint
    from edge_moe.runtime.bundle import sha256_of
    from edge_moe.models import create_model

    weights = save_checkpoint(tmp_path / "w.pt", create_model("yolo-pico"), ["cat", "dog", "bird"])
    export_with_report(str(weights), tmp_path / "b", imgsz=64, parity_count=1)
    bundle = load_bundle(tmp_path / "b")
    assert bundle.class_names == ["cat", "dog", "bird"]
    assert bundle.manifest.source["checkpoint_sha256"] == sha256_of(weights)
    assert np.isclose(bundle.manifest.input.scale, 1 / 255)


def test_later_exports_clean_what_killed_ones_left(tmp_path):
    """Folders of a dead export go; a running export's folder (its process alive) and young unowned ones stay."""
    import subprocess
    import time

    dead = subprocess.Popen(["sleep", "60"])
    dead.kill()
    dead.wait()
    alive = subprocess.Popen(["sleep", "60"])
    try:
        killed = tmp_path / f".b.{dead.pid}.k2j3h.tmp"
        running = tmp_path / f".b.{alive.pid}.x8f2a.tmp"
        unowned_old, unowned_new = tmp_path / ".b.abcdefgh.tmp", tmp_path / ".b.ijklmnop.tmp"
        for folder in (killed, running, unowned_old, unowned_new):
            folder.mkdir()
            (folder / "model.onnx").write_bytes(b"half")
        day_ago = time.time() - 25 * 3600
        os.utime(unowned_old, (day_ago, day_ago))
        export_with_report("yolo-pico", tmp_path / "b", imgsz=64, parity_count=1)
        assert leftovers(tmp_path) == sorted([running.name, unowned_new.name])
    finally:
        alive.kill()
        alive.wait()


def test_routing_remedies_export_and_route_like_torch_eval(tmp_path):
    """GAP+GMP+spectrum input, temperature and a trained aux-free bias all act inside the router: the graphs pick the same
    experts."""
    import torch

    from edge_moe.models import create_model
    from edge_moe.moe import moe_layers

    torch.manual_seed(0)
    remedies = {"router_input": "gap+gmp+spectrum", "router_norm": True, "router_logit_norm": True, "router_temperature": 0.5, "bias_rate": 0.01,
                "router_jitter": 0.5, "weight_floor": 0.3, "expert_dropout": 0.2, "router_detach": True}
    model = create_model("esmoe-pico", imgsz=IMGSZ, moe=remedies)
    for layer in moe_layers(model):
        layer.router.selection_bias.copy_(torch.tensor([0.0, 3.0, -3.0, 0.0]))  # large enough to change the choice
        layer.router.norm.running_mean.normal_()  # trained-looking statistics, not the identity
        layer.router.norm.running_var.uniform_(0.5, 2.0)
        layer.router.logit_norm.running_mean.normal_()
        layer.router.logit_norm.running_var.uniform_(0.5, 2.0)
    report = export_with_report(model.eval(), tmp_path / "sparse", imgsz=IMGSZ, routing="sparse", parity_count=2, other_out=tmp_path / "dense")
    for key in ("sparse", "dense", "sparse_vs_dense"):
        assert report.parity[key]["routing_ids_identical"], key
        assert report.parity[key]["boxes_max_norm_diff"] <= 1e-4, key


def test_shared_experts_run_in_the_segment_graphs_and_export_like_torch_eval(tmp_path):
    """A shared expert is no expert graph: the segment after the layer runs it on the layer input it receives (the
    parity with torch eval fails if a graph leaves it out)."""
    import torch

    from edge_moe.models import create_model

    torch.manual_seed(0)
    model = create_model("esmoe-pico", imgsz=IMGSZ, moe={"shared_experts": 1, "top_k": 1})
    report = export_with_report(model.eval(), tmp_path / "sparse", imgsz=IMGSZ, routing="sparse", parity_count=2, other_out=tmp_path / "dense")
    for key in ("sparse", "dense", "sparse_vs_dense"):
        assert report.parity[key]["routing_ids_identical"], key
        assert report.parity[key]["boxes_max_norm_diff"] <= 1e-4, key
    graphs = sorted(p.name for p in (tmp_path / "sparse" / "graphs").glob("*.expert*.onnx"))
    assert len(graphs) == 4 * 4  # four routed experts in each of p2..p5, no graph for the shared ones
