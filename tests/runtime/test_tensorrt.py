"""The native TensorRT backend (runs where tensorrt, cuda-python and a CUDA GPU are present)."""
import json
import shutil

import numpy as np
import pytest

from edge_moe.errors import UserError

pytestmark = pytest.mark.tensorrt
pytest.importorskip("tensorrt", reason="TensorRT is not installed (it needs NVIDIA's index or JetPack)")


@pytest.fixture(scope="module")
def engine_bundle(bundle, tmp_path_factory):
    from edge_moe.exporters.tensorrt_build import build_engines

    root = tmp_path_factory.mktemp("trt") / "bundle"
    shutil.copytree(bundle, root)
    try:
        build_engines(root, fp16=False, validate_frames=0, progress=False)
    except UserError as error:  # tensorrt without a usable GPU
        pytest.skip(str(error))
    return root


def test_tensorrt_matches_onnxruntime(engine_bundle):
    from edge_moe.runtime import Detector

    frame = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    trt_det = Detector(engine_bundle, backend="tensorrt", conf=0.01)
    assert Detector(engine_bundle, backend="auto").backend == "tensorrt"
    ort = Detector(engine_bundle, backend="onnxruntime", conf=0.01)(frame)
    trt = trt_det(frame)
    assert [e.ids.tolist() for e in trt.experts] == [e.ids.tolist() for e in ort.experts]
    assert len(trt.detections) == len(ort.detections)
    np.testing.assert_allclose(trt.detections.xyxy, ort.detections.xyxy, atol=0.5)


def test_engine_from_another_tensorrt_is_refused_with_the_rebuild_command(engine_bundle, tmp_path):
    from edge_moe.runtime import Detector

    root = tmp_path / "other"
    shutil.copytree(engine_bundle, root)
    manifest = json.loads((root / "manifest.json").read_text())
    for meta in manifest["engines"].values():
        meta["tensorrt"] = "8.0.0"
    (root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(UserError, match="TensorRT 8.0.0.*edge-moe build-engine"):
        Detector(root, backend="tensorrt")
    assert Detector(root, backend="auto").backend == "onnxruntime"
