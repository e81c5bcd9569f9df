"""YOLO-MoE bundles from the shared lowering: the early router's sparse plan runs only the chosen detector."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from edge_moe.exporters.export import export_with_report
from edge_moe.models import create_model
from edge_moe.runtime.bundle import load_bundle
from edge_moe.runtime.plan import PlanExecutor

IMGSZ = 64


@pytest.fixture(scope="module")
def early(tmp_path_factory):
    torch.manual_seed(3)
    model = create_model("yolo-moe-pico-early", imgsz=IMGSZ).eval()
    root = tmp_path_factory.mktemp("early")
    report = export_with_report(model, root / "sparse", parity_count=2, other_out=root / "dense", class_names=["a", "b", "c"])
    return model, report, root


def test_sparse_equals_dense_and_pytorch(early):
    _, report, _ = early
    assert report.parity["sparse_vs_dense"]["boxes_max_abs_diff"] == 0.0
    assert report.parity["sparse"]["routing_ids_identical"] and report.parity["sparse"]["boxes_max_norm_diff"] <= 1e-4


def test_top1_sparse_plan_runs_only_the_chosen_detector(early):
    model, _, root = early
    bundle = load_bundle(root / "sparse")
    assert [layer.name for layer in bundle.moe_layers] == ["router"]
    image = np.random.default_rng(0).random((1, 3, IMGSZ, IMGSZ), dtype=np.float32)
    with PlanExecutor(bundle) as executor:
        (step,) = [s for s in executor.steps if hasattr(s, "calls")]
        runs: list[int] = []
        step.calls = [[lambda call=call, e=e: (runs.append(e), call())[1] for call in slots] for e, slots in enumerate(step.calls)]
        result = executor(image, top_k=1)
    (routing,) = result.routing
    chosen = int(routing.ids[0])
    assert runs == [chosen] and routing.weights.tolist() == [1.0]
    with torch.no_grad():  # K' = 1: the output is the chosen detector's alone
        boxes, scores = model.ensemble.experts[chosen].detector.decode(model.ensemble.experts[chosen].detector(torch.from_numpy(image))[0])
    assert np.abs(result.outputs["boxes"] - boxes.numpy()).max() < 1e-3
    assert np.abs(result.outputs["scores"] - scores.numpy()).max() < 1e-5


def test_bench_top_k_counts_only_the_chosen_detector(early, capsys):
    from edge_moe.cli import main
    from edge_moe.exporters.bench import benchmark
    from edge_moe.models.complexity import measure

    model, _, root = early
    cost = measure(model, IMGSZ)
    (full,) = benchmark(str(root / "sparse"), ("onnxruntime",), ("sparse",), iters=2, warmup=0, progress=False).results
    (top1,) = benchmark(str(root / "sparse"), ("onnxruntime",), ("sparse",), iters=2, warmup=0, progress=False, top_k=1).results
    assert full.executed_gflops == round(cost.flops / 1e9, 4)
    one_detector = cost.base_flops + max(cost.layers[0].expert_flops)
    assert top1.executed_gflops <= round(one_detector / 1e9, 4) < full.executed_gflops
    assert main(["bench", str(root / "sparse"), "--top-k", "3"]) == 2
    assert "top_k must be an integer in [1, 2]" in capsys.readouterr().err
