"""TensorRT-RTX engines on a GPU: JIT-compiled at load, runtime cache written, outputs match ONNX Runtime.

Runs where tensorrt-rtx, cuda-python and a CUDA GPU of a targeted compute capability are present; skips elsewhere.
"""
import shutil

import numpy as np
import pytest

from edge_moe.environment.cuda import gpus

pytestmark = pytest.mark.gpu
pytest.importorskip("tensorrt_rtx", reason="pip install 'edge-moe[tensorrt-rtx]'")
if not gpus():
    pytest.skip("no CUDA GPU (TensorRT-RTX engines are JIT-compiled on one at load)", allow_module_level=True)


def test_rtx_engines_run_and_match_onnxruntime(bundle, tmp_path, monkeypatch):
    from edge_moe.exporters.tensorrt_build import build_engines
    from edge_moe.runtime import Detector
    from edge_moe.runtime.backends import tensorrt_session

    root = shutil.copytree(bundle, tmp_path / "bundle")
    capability = gpus()[0].compute_capability
    build_engines(root, target="tensorrt-rtx", fp16=False, compute_capabilities=capability, validate_frames=0, progress=False)
    monkeypatch.setattr(tensorrt_session, "RUNTIME_CACHE_DIR", tmp_path / "cache")
    frame = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    engines = Detector(root, backend="tensorrt", conf=0.01)(frame)
    reference = Detector(root, backend="onnxruntime", conf=0.01)(frame)
    assert [e.ids.tolist() for e in engines.experts] == [e.ids.tolist() for e in reference.experts]
    np.testing.assert_allclose(engines.detections.xyxy, reference.detections.xyxy, atol=0.5)
    assert list((tmp_path / "cache").glob("*.bin"))  # the JIT-compiled kernels are kept for the next start


def test_a_batched_bundle_groups_images_by_expert_on_the_gpu(tmp_path, monkeypatch):
    from edge_moe.exporters.export import export_with_report
    from edge_moe.exporters.tensorrt_build import build_engines
    from edge_moe.runtime import Detector
    from edge_moe.runtime.backends import tensorrt_session

    root = export_with_report("esmoe-pico", tmp_path / "batched", imgsz=64, parity_count=1, batch=4).bundle
    build_engines(root, target="tensorrt-rtx", fp16=False, compute_capabilities=gpus()[0].compute_capability, validate_frames=0,
                  progress=False)
    monkeypatch.setattr(tensorrt_session, "RUNTIME_CACHE_DIR", tmp_path / "cache")
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 255, (60, 80, 3), dtype=np.uint8) for _ in range(6)]  # a full call and a short one
    with Detector(root, backend="tensorrt", conf=0.01) as engines, Detector(root, backend="onnxruntime", conf=0.01) as reference:
        for got, want in zip(engines(frames), reference(frames)):
            assert [e.ids.tolist() for e in got.experts] == [e.ids.tolist() for e in want.experts]
            np.testing.assert_allclose(got.detections.xyxy, want.detections.xyxy, atol=0.5)
