"""--uint8-input: the first graph normalises the letterboxed BGR uint8 frame itself, with the same result."""
from __future__ import annotations

import numpy as np
import pytest

from edge_moe.exporters.export import export_with_report
from edge_moe.exporters.uint8_input import as_uint8_frames, from_uint8_frames
from edge_moe.models import create_model
from edge_moe.runtime import Detector

IMGSZ = 64


@pytest.fixture(scope="module")
def twin_bundles(tmp_path_factory):
    import torch

    torch.manual_seed(2)
    model = create_model("esmoe-pico").eval()
    root = tmp_path_factory.mktemp("u8")
    float_report = export_with_report(model, root / "float", imgsz=IMGSZ, parity_count=1)
    uint8_report = export_with_report(model, root / "uint8", imgsz=IMGSZ, parity_count=2, uint8_input=True)
    return float_report, uint8_report


def test_uint8_round_trip_is_exact():
    images = from_uint8_frames(as_uint8_frames(np.random.default_rng(0).random((2, 3, 8, 8), dtype=np.float32)))
    np.testing.assert_array_equal(from_uint8_frames(as_uint8_frames(images)), images)
    assert as_uint8_frames(images).shape == (2, 8, 8, 3)


def test_uint8_bundle_passes_parity_and_matches_the_float_bundle(twin_bundles):
    float_report, uint8_report = twin_bundles
    assert uint8_report.parity["sparse"]["routing_ids_identical"]
    frame = np.random.default_rng(1).integers(0, 255, (48, 80, 3), dtype=np.uint8)  # not square: letterboxed
    with Detector(float_report.bundle, conf=0.01) as a, Detector(uint8_report.bundle, conf=0.01) as b:
        assert b.executor.input.shape == (1, IMGSZ, IMGSZ, 3) and b.executor.input.dtype == np.uint8
        ra, rb = a(frame), b(frame)
    assert [e.ids.tolist() for e in ra.experts] == [e.ids.tolist() for e in rb.experts]
    np.testing.assert_allclose(ra.detections.xyxy, rb.detections.xyxy, atol=1e-3)
    np.testing.assert_allclose(ra.detections.confidence, rb.detections.confidence, atol=1e-5)
    assert ra.host_bytes - rb.host_bytes == 3 * IMGSZ * IMGSZ * (4 - 1)  # the frame crosses as uint8, 4x fewer bytes
