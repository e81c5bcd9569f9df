"""edge-moe bench: every backend x routing timed, executed compute counted per frame."""
from __future__ import annotations

import json

import pytest

from edge_moe.cli import main
from edge_moe.exporters.bench import benchmark
from edge_moe.models import create_model
from edge_moe.models.complexity import measure


@pytest.mark.slow
def test_bench_json_has_every_configuration(capsys):
    from edge_moe.threads import torch_threads

    with torch_threads(1):  # torch's OpenMP barriers crawl on a busy 2-core CI machine
        code = main(["bench", "esmoe-pico", "--imgsz", "64", "--iters", "3", "--warmup", "1", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["model"] == "esmoe-pico" and report["imgsz"] == 64
    rows = {(r["backend"], r["routing"]): r for r in report["results"]}
    assert set(rows) == {(b, r) for b in ("torch", "onnxruntime") for r in ("sparse", "dense")}
    for row in rows.values():
        assert row["frames"] == 3 and row["latency_ms_p50"] > 0 and row["fps"] > 0
        assert {"latency_ms_p95", "executed_gflops", "active_params_m"} <= set(row)
    cost = measure(create_model("esmoe-pico"), 64)
    for backend in ("torch", "onnxruntime"):
        assert rows[(backend, "dense")]["executed_gflops"] == round(cost.flops / 1e9, 4)  # all E experts
        sparse = rows[(backend, "sparse")]["executed_gflops"] * 1e9
        assert cost.base_flops + sum(min(l.expert_flops) * l.top_k for l in cost.layers) - 1e3 <= sparse
        assert sparse <= cost.active_flops + 1e3  # exactly K experts per layer, never more
    assert rows[("torch", "sparse")]["executed_gflops"] == rows[("onnxruntime", "sparse")]["executed_gflops"]
    # feature maps stay in the executor's buffers: only the frame, the routing and the outputs cross
    frame, anchors, routing = 3 * 64 * 64 * 4, 8 * 8 + 4 * 4 + 2 * 2, 4 * 2 * (8 + 4)
    for routing_kind in ("sparse", "dense"):
        assert rows[("onnxruntime", routing_kind)]["host_bytes_per_frame"] == frame + anchors * (4 + 3) * 4 + routing
    assert rows[("torch", "sparse")]["host_bytes_per_frame"] is None  # torch on the CPU moves nothing


def test_bench_bundle_and_bad_requests(pico_bundles, capsys):
    bundle = pico_bundles["dense"]
    report = benchmark(str(bundle), ("onnxruntime",), ("dense",), iters=2, warmup=0, progress=False)
    assert [(r.backend, r.routing, r.frames) for r in report.results] == [("onnxruntime", "dense", 2)]
    code = main(["bench", str(bundle), "--backend", "torch"])
    assert code == 2 and "benchmarks only on onnxruntime" in capsys.readouterr().err
    code = main(["bench", "esmoe-pico", "--routing", "magic"])
    assert code == 2 and "unknown backend/routing ['magic']" in capsys.readouterr().err
    code = main(["bench", "esmoe-pico", "--imgsz", "100", "--backend", "torch"])
    assert code == 2 and "multiple of 32" in capsys.readouterr().err


def test_bench_a_batched_bundle_per_frame(tmp_path):
    from edge_moe.exporters.export import export_with_report

    bundle = export_with_report("esmoe-pico", tmp_path / "b3", imgsz=64, parity_count=1, batch=3).bundle
    report = benchmark(str(bundle), ("onnxruntime",), ("sparse",), iters=2, warmup=1, progress=False)
    (row,) = report.results
    assert report.batch == 3 and row.frames == 2 * 3  # two calls of three frames
    frame, anchors, routing = 3 * 64 * 64 * 4, 8 * 8 + 4 * 4 + 2 * 2, 4 * 2 * (8 + 4)
    assert row.host_bytes_per_frame == frame + anchors * (4 + 3) * 4 + routing  # each frame's share of its call


@pytest.mark.parametrize("config", [None, {"name": "esmoe-pico", "bogus": 1}])
def test_bench_bundle_without_a_usable_config_is_one_line(pico_bundles, tmp_path, capsys, config):
    import shutil

    bundle = tmp_path / "b"
    shutil.copytree(pico_bundles["dense"], bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    if config is None:
        del manifest["config"]  # not a field the runtime needs: the bundle still loads
    else:
        manifest["config"] = config
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    code = main(["bench", str(bundle), "--iters", "1", "--warmup", "0"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "manifest.json" in err and "'config'" in err
