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
