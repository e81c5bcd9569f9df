"""The ONNX If-node lowering (kept for measurement) computes the same detector as the others."""
from __future__ import annotations

import numpy as np
import onnx

from edge_moe.exporters.export import resolve_source, write_bundle
from edge_moe.exporters.graphs import lower
from edge_moe.exporters.if_form import if_form
from edge_moe.exporters.parity import parity_images, run_bundle
from edge_moe.runtime.bundle import load_bundle


def test_if_form_matches_the_segmented_plan(tmp_path):
    model, names, source = resolve_source("esmoe-pico")
    segmented = lower(model, "sparse", 64, 17, {"edge_moe.model": "esmoe-pico"}, combine="mixed")
    lowered = if_form(segmented, 17)
    reports = write_bundle(lowered, tmp_path / "if", model, names, source, 64, 17, fp16=False)
    assert reports[0].ops["If"] == 16 and lowered.lowering == "if"
    graph = onnx.load(str(tmp_path / "if" / "graphs" / "model.onnx"))
    assert {p.key: p.value for p in graph.metadata_props}["edge_moe.lowering"] == "if"

    images = parity_images(3, 64)
    ours = run_bundle(load_bundle(tmp_path / "if"), images)
    mixed_root = tmp_path / "mixed"
    write_bundle(segmented, mixed_root, model, names, source, 64, 17, fp16=False)
    reference = run_bundle(load_bundle(mixed_root), images)
    for a, c in zip(ours, reference):
        np.testing.assert_allclose(a.boxes, c.boxes, atol=1e-4)
        np.testing.assert_allclose(a.scores, c.scores, atol=1e-5)
        for x, y in zip(a.routing, c.routing):
            np.testing.assert_array_equal(x.ids, y.ids)
