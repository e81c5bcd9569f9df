"""build-engine: precision policy, FP32 pins, targets, cache keys, build plan, metadata, network checks, no-TensorRT exit."""
from __future__ import annotations

import importlib.util
from datetime import datetime, timezone
from pathlib import Path

import pytest

from edge_moe.cli import main
from edge_moe.errors import UserError
from edge_moe.exporters.engine_policy import (
    Device, cache_key, check_dla, choose_target, default_timing_cache, engine_metadata, parse_compute_capabilities, pin_to_fp32,
    plan_builds, precision_policy, rtx_precision_policy, runs_on, validation_warning,
)
from edge_moe.exporters.network_check import Layer, check_fp16_precision, check_io, profile_shapes
from edge_moe.runtime.schema import EngineRecord, FileRef, GraphEntry, Manifest, NetworkInput, Plan, RunStep, TensorSpec

ORIN = Device("10.3.0", "Orin", "8.7", "tensorrt", ("8.7",))


@pytest.mark.parametrize(
    "version, mode, onnx, flags",
    [
        ("8.5.2.2", "builder-flag", "fp32", ("FP16", "OBEY_PRECISION_CONSTRAINTS")),
        ("8.6.2", "builder-flag", "fp32", ("FP16", "OBEY_PRECISION_CONSTRAINTS")),
        ("10.3.0", "builder-flag", "fp32", ("FP16", "OBEY_PRECISION_CONSTRAINTS")),
        ("10.13.1", "builder-flag", "fp32", ("FP16", "OBEY_PRECISION_CONSTRAINTS")),
        ("11.0.0", "strongly-typed", "fp16", ()),
    ],
)
def test_fp16_policy_by_tensorrt_version(version, mode, onnx, flags):
    precision = precision_policy(version, fp16=True)
    assert (precision.name, precision.mode, precision.onnx, precision.flags) == ("fp16", mode, onnx, flags)
    assert precision.pins_fp32_layers == (mode == "builder-flag")


def test_fp32_and_version_compatible_policies():
    assert precision_policy("10.3.0", fp16=False).flags == ()
    assert precision_policy("11.1.0", fp16=False).onnx == "fp32"
    assert "VERSION_COMPATIBLE" in precision_policy("8.6.1", fp16=True, version_compatible=True).flags
    with pytest.raises(UserError, match="needs TensorRT >= 8.6"):
        precision_policy("8.5.2", fp16=True, version_compatible=True)
    with pytest.raises(UserError, match="too old; edge-moe needs TensorRT >= 8.5"):
        precision_policy("8.4.1", fp16=True)


@pytest.mark.parametrize(
    "name, layer_type, pinned",
    [
        ("/router/reduce/Conv", "CONVOLUTION", True),
        ("/Softmax", "SOFTMAX", True),
        ("/model/backbone/moe.p2/TopK", "TOPK", True),
        ("/Div", "ELEMENTWISE", True),  # routing renormalisation / decoding sit at the top scope
        ("/stages.1/stages.1.0/conv/Conv", "CONVOLUTION", False),
        ("/expert/depthwise/conv/Conv", "CONVOLUTION", False),
        ("(Unnamed Layer* 3) [Constant]", "CONSTANT", False),
        ("ONNXTRT_Broadcast", "SHUFFLE", False),
    ],
)
def test_fp32_pins(name, layer_type, pinned):
    assert pin_to_fp32(name, layer_type) is pinned


def test_cache_key_changes_with_every_input():
    fp16 = precision_policy("10.3.0", True)
    base = cache_key("a" * 64, ORIN, fp16, 1024)
    assert base == cache_key("a" * 64, ORIN, fp16, 1024)
    assert base != cache_key("b" * 64, ORIN, fp16, 1024)
    assert base != cache_key("a" * 64, Device("10.3.1", "Orin", "8.7"), fp16, 1024)
    assert base != cache_key("a" * 64, Device("10.3.0", "Orin Nano", "8.7"), fp16, 1024)
    assert base != cache_key("a" * 64, ORIN, precision_policy("10.3.0", False), 1024)
    assert base != cache_key("a" * 64, ORIN, fp16, 2048)


def manifest(engines=None) -> Manifest:
    graphs = {
        "segment0": GraphEntry("graphs/segment0.onnx", "1" * 64, fp16=FileRef("graphs/fp16/segment0.onnx", "2" * 64)),
        "e0": GraphEntry("graphs/e0.onnx", "3" * 64, fp16=FileRef("graphs/fp16/e0.onnx", "4" * 64)),
    }
    records = {name: EngineRecord(record["file"], record["sha256"], record) for name, record in (engines or {}).items()}
    return Manifest(task="detect", model="m", class_names=(), input=NetworkInput(shape=(1, 3, 64, 64)), moe_layers=(),
                    routing="sparse", lowering="segmented", graphs=graphs, plan=Plan((RunStep("segment0"),)), engines=records)


def test_plan_builds_uses_the_right_onnx_and_skips_unchanged(tmp_path: Path):
    fp16_flag, fp16_typed = precision_policy("10.3.0", True), precision_policy("11.0.0", True)
    jobs = plan_builds(manifest(), tmp_path, ORIN, fp16_flag, 1024)
    assert [(j.graph, j.onnx, j.up_to_date) for j in jobs] == [("segment0", "graphs/segment0.onnx", False), ("e0", "graphs/e0.onnx", False)]
    assert jobs[0].engine == f"engines/segment0.{jobs[0].key[:12]}.engine"
    typed = plan_builds(manifest(), tmp_path, Device("11.0.0", "Orin", "8.7"), fp16_typed, 1024)
    assert [j.onnx_sha256 for j in typed] == ["2" * 64, "4" * 64]

    (tmp_path / "engines").mkdir()
    (tmp_path / jobs[0].engine).write_bytes(b"plan")
    entry = engine_metadata(jobs[0], "f" * 64, ORIN, fp16_flag, 1024, 12.3)
    again = plan_builds(manifest({"segment0": entry}), tmp_path, ORIN, fp16_flag, 1024)
    assert [j.up_to_date for j in again] == [True, False]
    assert again[0].engine == jobs[0].engine
    changed = plan_builds(manifest({"segment0": entry}), tmp_path, ORIN, fp16_flag, 2048)
    assert not changed[0].up_to_date


def test_engine_metadata_fields():
    precision = precision_policy("10.3.0", True, version_compatible=True)
    job = plan_builds(manifest(), Path("/nonexistent"), ORIN, precision, 512)[0]
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    meta = engine_metadata(job, "f" * 64, ORIN, precision, 512, 3.14159, built_at=when)
    assert meta == {
        "file": job.engine, "sha256": "f" * 64, "flavour": "tensorrt", "tensorrt": "10.3.0", "gpu": "Orin", "compute_capability": "8.7",
        "compute_capabilities": ["8.7"], "dla_core": None,
        "precision": "fp16", "mode": "builder-flag", "flags": ["FP16", "OBEY_PRECISION_CONSTRAINTS", "VERSION_COMPATIBLE"],
        "version_compatible": True, "hardware_compatible": False, "onnx": "graphs/segment0.onnx", "onnx_sha256": "1" * 64,
        "workspace_mib": 512, "built_at": "2026-01-02T03:04:05+00:00", "build_seconds": 3.14, "cache_key": job.key,
    }


def test_timing_cache_is_per_gpu_and_version():
    path = default_timing_cache(Device("10.3.0", "NVIDIA Jetson AGX Orin", "8.7"))
    assert path.name == "timing-trt10.3.0-nvidia-jetson-agx-orin-sm87.cache"


def test_validation_warning_threshold():
    assert validation_warning({"routing_agreement": 1.0}) is None
    assert "98.0%" in validation_warning({"routing_agreement": 0.98})


def test_build_engine_without_any_tensorrt_names_both_extras(pico_bundles, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tensorrt", None)  # a machine with neither flavour
    monkeypatch.setitem(sys.modules, "tensorrt_rtx", None)
    bundle = pico_bundles["dense"]
    code = main(["build-engine", str(bundle)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "pip install 'edge-moe[tensorrt-rtx]'" in err and "pip install 'edge-moe[tensorrt]'" in err and "JetPack" in err
    assert not (bundle / "engines").exists()


@pytest.mark.tensorrt
def test_build_engines_on_a_gpu(tmp_path):
    pytest.importorskip("tensorrt")
    from edge_moe.exporters.export import export_bundle
    from edge_moe.exporters.tensorrt_build import build_engines
    from edge_moe.runtime.bundle import check_engine, load_bundle

    bundle_path = export_bundle("esmoe-pico", tmp_path / "b", imgsz=128, parity_count=1)
    report = build_engines(bundle_path, fp16=True, timing_cache=tmp_path / "timing.cache", progress=False)
    bundle = load_bundle(bundle_path)
    assert set(bundle.engines) == set(bundle.graphs) and len(report.built) == len(bundle.graphs)
    assert report.validation["routing_agreement"] >= 0.99
    for name in bundle.graphs:
        check_engine(bundle, name, report.device.tensorrt, report.device.gpu)
    again = build_engines(bundle_path, fp16=True, timing_cache=tmp_path / "timing.cache", validate_frames=0, progress=False)
    assert again.built == [] and len(again.reused) == len(bundle.graphs)


@pytest.fixture
def fake_tensorrt(monkeypatch):
    """Stand-in ``tensorrt`` and ``cuda-python`` modules (a machine without them) and a fresh tensorrt_session."""
    import sys
    import types

    import edge_moe.runtime.backends as backends

    class Props:
        name, major, minor = b"Orin\x00\x00", 8, 7

    cudart = types.SimpleNamespace(
        cudaError_t=types.SimpleNamespace(cudaSuccess=0),
        cudaGetErrorName=lambda error: (0, b"cudaErrorNoDevice"),
        cudaGetDeviceProperties=lambda device: (0, Props()),
    )
    trt = types.SimpleNamespace(__version__="10.3.0", Logger=type("Logger", (), {"WARNING": 2, "__init__": lambda self, level: None}))
    cuda = types.ModuleType("cuda")
    bindings = types.ModuleType("cuda.bindings")
    bindings.runtime = cudart
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.setitem(sys.modules, "cuda", cuda)
    monkeypatch.setitem(sys.modules, "cuda.bindings", bindings)
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", cudart)
    modules = ("tensorrt_session", "cuda_runtime")  # imported afresh over the fakes, the real ones put back after
    saved = {module: sys.modules.pop(f"{backends.__name__}.{module}", None) for module in modules}
    for module in modules:
        if hasattr(backends, module):
            delattr(backends, module)
    yield trt, cudart
    for module, original in saved.items():
        sys.modules.pop(f"{backends.__name__}.{module}", None)
        if hasattr(backends, module):
            delattr(backends, module)
        if original is not None:
            sys.modules[f"{backends.__name__}.{module}"] = original
            setattr(backends, module, original)


def test_tensorrt_device_reads_the_gpu_name_the_runtime_compares(fake_tensorrt):
    from edge_moe.exporters.engine_flavours import TensorRTTarget
    from edge_moe.runtime.backends import tensorrt_session

    trt, cudart = fake_tensorrt
    device = TensorRTTarget().device(trt, (), None)
    assert device == ORIN
    assert tensorrt_session.gpu_name() == device.gpu  # one function: the engine check cannot drift
    with pytest.raises(UserError, match="--compute-capability applies to --target tensorrt-rtx"):
        TensorRTTarget().device(trt, ("8.6",), None)


def test_tensorrt_device_without_a_gpu_is_one_line(fake_tensorrt):
    from edge_moe.exporters.engine_flavours import TensorRTTarget

    trt, cudart = fake_tensorrt
    cudart.cudaGetDeviceProperties = lambda device: (100, None)
    with pytest.raises(UserError, match=r"^no usable CUDA GPU \(CUDA error cudaErrorNoDevice\); TensorRT engines"):
        TensorRTTarget().device(trt, (), None)


@pytest.mark.parametrize(
    "target, tensorrt_installed, gpu, chosen",
    [
        ("auto", True, True, "tensorrt"),
        ("auto", True, False, "tensorrt-rtx"),  # TensorRT proper builds on the GPU that runs the engine
        ("auto", False, True, "tensorrt-rtx"),
        ("tensorrt", False, False, "tensorrt"),
        ("tensorrt-rtx", True, True, "tensorrt-rtx"),
    ],
)
def test_choose_target(target, tensorrt_installed, gpu, chosen):
    assert choose_target(target, tensorrt_installed, gpu) == chosen


def test_choose_target_rejects_unknown():
    with pytest.raises(UserError, match=r"--target must be one of \['auto', 'tensorrt', 'tensorrt-rtx'\], got 'trt'"):
        choose_target("trt", True, True)


def test_compute_capabilities():
    assert parse_compute_capabilities(None) == ()
    assert parse_compute_capabilities("8.6, 8.9,12.0,8.6") == ("8.6", "8.9", "12.0")
    assert parse_compute_capabilities("7.5") == ("7.5",)
    for bad, named in (("9.0", "9.0"), ("86", "86"), (",", "nothing")):
        with pytest.raises(UserError, match=rf"TensorRT-RTX builds for 7.5, 8.0, 8.6, 8.9, 12.0, 12.1 \(comma-separated\), not {named}$"):
            parse_compute_capabilities(bad)
    assert runs_on(("8.6", "12.0")) == "sm 8.6 Ampere (RTX 30, A-series), sm 12.0 Blackwell (RTX 50)"


def test_dla_policy():
    check_dla(None, False, "TensorRT-RTX")
    check_dla(1, True, "TensorRT")
    with pytest.raises(UserError, match="--dla 0: TensorRT-RTX has no DLA"):
        check_dla(0, False, "TensorRT-RTX")
    with pytest.raises(UserError, match="--dla must be a DLA core, 0 or 1, got 2"):
        check_dla(2, True, "TensorRT")
    with pytest.raises(UserError, match="--dla 0 with --no-fp16: the DLA runs FP16 or INT8 only"):
        check_dla(0, True, "TensorRT", fp16=False)


def test_rtx_precision_is_strongly_typed_and_keys_differ_by_flavour_and_targets():
    fp16, fp32 = rtx_precision_policy(True), rtx_precision_policy(False)
    assert (fp16.mode, fp16.onnx, fp16.flags, fp16.pins_fp32_layers) == ("strongly-typed", "fp16", (), False)
    assert (fp32.mode, fp32.onnx) == ("strongly-typed", "fp32")
    rtx = Device("1.7.1", None, None, "tensorrt-rtx", ("8.6",))
    key = cache_key("a" * 64, rtx, fp16, 1024)
    assert key != cache_key("a" * 64, Device("1.7.1", None, None, "tensorrt-rtx", ("8.6", "8.9")), fp16, 1024)
    assert key != cache_key("a" * 64, Device("1.7.1", None, None, "tensorrt", ("8.6",)), fp16, 1024)
    assert cache_key("a" * 64, ORIN, fp16, 1024) != cache_key("a" * 64, Device("10.3.0", "Orin", "8.7", "tensorrt", ("8.7",), 0), fp16, 1024)


def test_io_check_names_graph_and_tensor():
    want = [TensorSpec("x", (1, 3, 64, 64), "float32")]
    check_io("segment0", "input", want, [TensorSpec("x", (1, 3, 64, 64), "float32")])
    with pytest.raises(UserError, match=r"^graph segment0: network inputs \['images'\] differ from the manifest's \['x'\]$"):
        check_io("segment0", "input", want, [TensorSpec("images", (1, 3, 64, 64), "float32")])
    with pytest.raises(UserError, match=r"^graph segment0: input x is \[1, 3, 64, 64\] float16 in the network, the manifest says \[1, 3, 64, 64\] float32$"):
        check_io("segment0", "input", want, [TensorSpec("x", (1, 3, 64, 64), "float16")])


def test_a_dynamic_batch_matches_the_manifest_and_gets_a_profile_up_to_it():
    want = [TensorSpec("x", (4, 16, 8, 8), "float32")]
    check_io("moe.expert0", "input", want, [TensorSpec("x", (-1, 16, 8, 8), "float32")])
    with pytest.raises(UserError, match=r"input x is \[-1, 16, 4, 4\] float32 in the network, the manifest says \[4, 16, 8, 8\]"):
        check_io("moe.expert0", "input", want, [TensorSpec("x", (-1, 16, 4, 4), "float32")])
    assert profile_shapes((-1, 16, 8, 8), (4, 16, 8, 8)) == ((1, 16, 8, 8), (4, 16, 8, 8), (4, 16, 8, 8))
    assert profile_shapes((4, 16, 8, 8), (4, 16, 8, 8)) is None


def test_fp16_precision_check():
    good = [
        Layer("/stages.1/conv/Conv", "CONVOLUTION", ("HALF",)),
        Layer("/router/logits/Conv", "CONVOLUTION", ("FLOAT",)),
        Layer("/Softmax", "SOFTMAX", ("FLOAT",)),
        Layer("/TopK", "TOPK", ("FLOAT", "INT64")),
        Layer("/Softmax_output_0_cast_to_fp16_node", "CAST", ("HALF",)),  # casts change precision on purpose
        Layer("ONNXTRT_Broadcast", "SHUFFLE", ("HALF",)),  # parser-internal
    ]
    check_fp16_precision("segment1", good)
    with pytest.raises(UserError, match=r"^graph segment1: routing layer /TopK \(TOPK\) outputs HALF, expected FLOAT"):
        check_fp16_precision("segment1", [Layer("/TopK", "TOPK", ("HALF", "INT64"))])
    with pytest.raises(UserError, match=r"^graph e0: convolution /expert/conv/Conv outputs FLOAT in an FP16 build, expected HALF"):
        check_fp16_precision("e0", [Layer("/expert/conv/Conv", "CONVOLUTION", ("FLOAT",))])
