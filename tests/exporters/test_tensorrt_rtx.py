"""Real TensorRT-RTX builds (its builder needs no GPU): every zoo bundle, rebuild rules, the network checks,
engines refused at load. Deserialising and running the engines needs a GPU; those tests skip without one."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import onnx
import pytest

from edge_moe.cli import main
from edge_moe.environment.cuda import gpus
from edge_moe.errors import UserError
from edge_moe.exporters.engine_policy import RTX_DEFAULT_TARGETS
from edge_moe.runtime.bundle import check_engine, load_bundle, sha256_of

pytest.importorskip("tensorrt_rtx", reason="pip install 'edge-moe[tensorrt-rtx]'")


def build(bundle: Path, **options):
    from edge_moe.exporters.tensorrt_build import build_engines

    return build_engines(bundle, target="tensorrt-rtx", validate_frames=0, progress=False, **options)


def copy(bundle: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(bundle, tmp_path / "bundle"))


def manifest_of(bundle: Path) -> dict:
    return json.loads((bundle / "manifest.json").read_text())


def set_graph(bundle: Path, field: str, model: onnx.ModelProto) -> None:
    """Overwrites one graph of the bundle (``field``: "segment1" or "segment1.fp16") and records its hash."""
    manifest = manifest_of(bundle)
    graph, *fp16 = field.split(".")
    entry = manifest["graphs"][graph]["fp16"] if fp16 else manifest["graphs"][graph]
    onnx.save(model, bundle / entry["file"])
    entry["sha256"] = sha256_of(bundle / entry["file"])
    (bundle / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.slow
def test_every_zoo_bundle_builds_fp16_and_fp32(zoo_bundles, tmp_path):
    assert len(zoo_bundles) >= 10  # sparse and dense of every MoE model, one bundle of every dense model
    for key, source in zoo_bundles.items():
        bundle = Path(shutil.copytree(source, tmp_path / key))
        for fp16 in (True, False):
            report = build(bundle, fp16=fp16)
            loaded = load_bundle(bundle)  # every engine file's sha256 checked
            assert sorted(report.built) == sorted(loaded.graphs) == sorted(loaded.engines), key
            for name, meta in loaded.engines.items():
                assert meta["flavour"] == "tensorrt-rtx" and meta["precision"] == ("fp16" if fp16 else "fp32")
                assert meta["compute_capabilities"] == list(RTX_DEFAULT_TARGETS) and meta["gpu"] is None
                assert meta["onnx_sha256"] == (loaded.graphs[name].fp16 if fp16 else loaded.graphs[name]).sha256
                assert (bundle / meta["file"]).stat().st_size > 0
            assert len(list((bundle / "engines").glob("*.engine"))) == len(loaded.graphs)  # the other precision's are gone


def test_a_batched_bundle_builds_its_experts_with_a_batch_profile(tmp_path):
    from edge_moe.exporters.export import export_with_report

    bundle = export_with_report("esmoe-pico", tmp_path / "batched", imgsz=64, parity_count=1, batch=3).bundle
    report = build(bundle)
    loaded = load_bundle(bundle)
    assert sorted(report.built) == sorted(loaded.graphs) and loaded.input.batch == 3
    experts = [name for name in loaded.graphs if ".expert" in name]
    assert experts and all(loaded.graphs[name].inputs[0].shape[0] == 3 for name in experts)


def test_second_build_rebuilds_nothing_and_a_changed_onnx_only_its_graph(pico_bundles, tmp_path):
    bundle = copy(pico_bundles["sparse"], tmp_path)
    first = build(bundle)
    assert len(first.built) == len(load_bundle(bundle).graphs) > 1
    again = build(bundle)
    assert again.built == [] and sorted(again.reused) == sorted(first.built)
    before = manifest_of(bundle)["engines"]

    graph = "segment1"
    model = onnx.load(bundle / "graphs" / "fp16" / f"{graph}.onnx")
    model.doc_string = "re-exported"
    set_graph(bundle, f"{graph}.fp16", model)
    changed = build(bundle)
    assert changed.built == [graph] and len(changed.reused) == len(first.built) - 1
    after = manifest_of(bundle)["engines"]
    assert after[graph]["file"] != before[graph]["file"] and not (bundle / before[graph]["file"]).exists()
    assert {k: v for k, v in after.items() if k != graph} == {k: v for k, v in before.items() if k != graph}


def test_compute_capabilities_are_recorded_and_checked_at_load(pico_bundles, tmp_path):
    bundle = copy(pico_bundles["dense"], tmp_path)
    build(bundle, fp16=False, compute_capabilities="8.6,8.9")
    loaded = load_bundle(bundle)
    (name, meta), = loaded.engines.items()
    assert meta["compute_capabilities"] == ["8.6", "8.9"] and meta["mode"] == "strongly-typed"
    version = meta["tensorrt"]
    assert check_engine(loaded, name, version, "NVIDIA GeForce RTX 3060", "8.6") == bundle / meta["file"]
    assert check_engine(loaded, name, version, "NVIDIA RTX 4000 Ada", "8.9")  # any GPU of a targeted capability
    with pytest.raises(UserError, match=r"targets compute capabilities \['8.6', '8.9'\], this GPU \(NVIDIA H100\) has 9.0.*--compute-capability 9.0"):
        check_engine(loaded, name, version, "NVIDIA H100", "9.0")
    with pytest.raises(UserError, match="engine built with TensorRT-RTX .* this machine has TensorRT-RTX 1.0.0"):
        check_engine(loaded, name, "1.0.0", "NVIDIA GeForce RTX 3060", "8.6")


def test_an_engine_altered_after_the_build_is_refused_at_load(pico_bundles, tmp_path):
    from edge_moe.runtime import Detector
    from edge_moe.runtime.backends.tensorrt_session import load_engine

    bundle = copy(pico_bundles["dense"], tmp_path)
    build(bundle, fp16=False)
    engine = bundle / next(iter(manifest_of(bundle)["engines"].values()))["file"]
    engine.write_bytes(engine.read_bytes()[:-16] + bytes(16))
    with pytest.raises(UserError, match=r"\.engine: sha256 does not match engines\.model\.sha256"):
        Detector(bundle, backend="tensorrt")
    # the header check TensorRT-RTX does before deserialising catches a broken plan even with a matching hash
    engine.write_bytes(b"not an engine" * 16)
    with pytest.raises(UserError, match=r"is invalid here \(malformed_engine\); rebuild it with `edge-moe build-engine"):
        load_engine(engine, flavour="tensorrt-rtx")


def test_io_check_catches_a_graph_that_is_not_the_manifests(pico_bundles, tmp_path):
    bundle = copy(pico_bundles["sparse"], tmp_path)
    before = (bundle / "manifest.json").read_text()
    set_graph(bundle, "segment1.fp16", onnx.load(bundle / "graphs" / "fp16" / "segment2.onnx"))
    edited = (bundle / "manifest.json").read_text()
    with pytest.raises(UserError, match=r"^graph segment1: network inputs \['backbone.moe.p3.x', .*\] differ from the manifest's \['backbone.moe.p2.x'"):
        build(bundle)
    assert (bundle / "manifest.json").read_text() == edited != before  # the build changed nothing
    assert not (bundle / "engines").exists() or not list((bundle / "engines").iterdir())


def test_precision_check_catches_routing_in_fp16(pico_bundles, tmp_path):
    """An FP16 graph converted without the FP32 block list runs the router in FP16: refused, naming the layer."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    bundle = copy(pico_bundles["sparse"], tmp_path)
    build(bundle, fp16=False)
    engines_before = sorted(p.name for p in (bundle / "engines").iterdir())
    manifest_before = manifest_of(bundle)["engines"]
    naive = convert_float_to_float16(onnx.load(bundle / "graphs" / "segment1.onnx"), keep_io_types=True)
    set_graph(bundle, "segment1.fp16", naive)
    with pytest.raises(UserError, match=r"^graph segment1: routing layer /\S+ \(\w+\) outputs HALF, expected FLOAT"):
        build(bundle)
    assert sorted(p.name for p in (bundle / "engines").iterdir()) == engines_before  # no half-written engines
    assert manifest_of(bundle)["engines"] == manifest_before


def test_fp16_needs_fp16_graphs_and_bad_options_are_one_line(pico_bundles, tmp_path, capsys):
    bundle = copy(pico_bundles["dense"], tmp_path)
    manifest = manifest_of(bundle)
    for entry in manifest["graphs"].values():
        del entry["fp16"]
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    cases = [
        ([], r"graph model has no FP16 ONNX \(graphs.model.fp16\) for --fp16; re-export .* or build FP32 engines with --no-fp16"),
        (["--no-fp16", "--compute-capability", "8.6,9.0"], r"--compute-capability '8.6,9.0': TensorRT-RTX builds for 7.5, 8.0, 8.6, 8.9, 12.0, 12.1 \(comma-separated\), not 9.0"),
        (["--no-fp16", "--dla", "0"], "--dla 0: TensorRT-RTX has no DLA"),
        (["--no-fp16", "--timing-cache", "x.cache"], "--timing-cache applies to --target tensorrt"),
    ]
    for extra, message in cases:
        assert main(["build-engine", str(bundle), "--target", "tensorrt-rtx", *extra]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and re.search(message, err), err
    assert not (bundle / "engines").exists()


def test_cli_build_and_info_list_the_engines(pico_bundles, tmp_path, capsys):
    bundle = copy(pico_bundles["sparse"], tmp_path)
    assert main(["build-engine", str(bundle), "--target", "tensorrt-rtx", "--compute-capability", "8.6,12.0"]) == 0
    out = capsys.readouterr().out
    graphs = len(load_bundle(bundle).graphs)
    assert "TensorRT-RTX" in out and f"built {graphs} in" in out and "sm 8.6 Ampere (RTX 30" in out and "sm 12.0 Blackwell (RTX 50)" in out
    assert main(["info", str(bundle)]) == 0
    info = capsys.readouterr().out
    assert "TensorRT-RTX 1.7" in info and "fp16" in info and "sm 8.6/12.0" in info and f"{graphs} graphs" in info


@pytest.mark.skipif(bool(gpus()), reason="a CUDA GPU is here")
def test_without_a_gpu_the_runtime_runs_the_onnx_and_says_why_not_the_engines(pico_bundles, tmp_path):
    from edge_moe.runtime import Detector
    from edge_moe.runtime.backends.select import tensorrt_usable

    bundle = copy(pico_bundles["sparse"], tmp_path)
    build(bundle)
    assert Detector(bundle, backend="auto").backend == "onnxruntime"
    assert "CUDA error" in tensorrt_usable(load_bundle(bundle))
    with pytest.raises(UserError, match=r"^backend 'tensorrt': no usable CUDA GPU \(CUDA error \w+\) to run the TensorRT-RTX engines of "):
        Detector(bundle, backend="tensorrt")
