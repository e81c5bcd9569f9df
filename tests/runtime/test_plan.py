"""PlanExecutor on real exported bundles: sparse == dense, only K experts run, top-K' renormalised."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from edge_moe.errors import UserError
from edge_moe.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend
from edge_moe.runtime.bundle import load_bundle
from edge_moe.runtime.plan import PlanExecutor

IMGSZ = 64


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(model, sparse bundle, dense bundle) of one esmoe-pico, exported with the real exporter."""
    torch = pytest.importorskip("torch", reason="exporting a bundle needs torch (the runtime-only venv has none)")
    from edge_moe.exporters.export import export_with_report
    from edge_moe.models import create_model

    torch.manual_seed(1)
    model = create_model("esmoe-pico").eval()
    root = tmp_path_factory.mktemp("plan")
    export_with_report(model, root / "sparse", imgsz=IMGSZ, routing="sparse", parity_count=1, other_out=root / "dense")
    return model, load_bundle(root / "sparse"), load_bundle(root / "dense")


def images(count: int = 3) -> np.ndarray:
    return np.random.default_rng(3).random((count, 1, 3, IMGSZ, IMGSZ), dtype=np.float32)


@pytest.mark.parametrize("top_k", [None, 1, 2])
def test_sparse_and_dense_agree(exported, top_k):
    _, sparse, dense = exported
    run_sparse, run_dense = PlanExecutor(sparse), PlanExecutor(dense)
    for image in images():
        a, b = run_sparse(image, top_k=top_k), run_dense(image, top_k=top_k)
        assert a.boxes.shape == (1, (IMGSZ // 8) ** 2 + (IMGSZ // 16) ** 2 + (IMGSZ // 32) ** 2, 4)
        assert a.scores.shape[-1] == 3 and a.boxes.dtype == np.float32
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-4)
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)
        assert [r.layer for r in a.routing] == [layer.name for layer in sparse.moe_layers]
        for x, y in zip(a.routing, b.routing):
            assert x.ids.dtype == np.int64 and x.ids.shape == ((top_k or 2),)
            np.testing.assert_array_equal(x.ids, y.ids)
            np.testing.assert_allclose(x.weights, y.weights, atol=1e-6)
            assert abs(float(x.weights.sum()) - 1.0) < 1e-6


def test_top_k_prime_matches_pytorch_with_fewer_experts(exported):
    torch = pytest.importorskip("torch")
    from edge_moe.moe import moe_layers

    model, sparse, _ = exported
    image = images(1)[0]
    layers = moe_layers(model)
    saved = [layer.top_k for layer in layers]
    try:
        for layer in layers:
            layer.top_k = 1
        with torch.no_grad():
            outputs, routings = model(torch.from_numpy(image))
            boxes, scores = model.decode(outputs)
    finally:
        for layer, k in zip(layers, saved):
            layer.top_k = k
    result = PlanExecutor(sparse)(image, top_k=1)
    np.testing.assert_allclose(result.boxes, boxes.numpy(), atol=1e-4)
    np.testing.assert_allclose(result.scores, scores.numpy(), atol=1e-5)
    for ours, theirs in zip(result.routing, routings):
        np.testing.assert_array_equal(ours.ids, theirs.ids[0].numpy())
        assert ours.weights.tolist() == [1.0]


def test_only_the_chosen_experts_run(exported):
    _, sparse, _ = exported
    calls: Counter = Counter()

    class CountingBackend(OnnxRuntimeBackend):
        def open(self, graph):
            session = super().open(graph)
            bind = session.bind

            def counting_bind(inputs, outputs):
                run = bind(inputs, outputs)

                def counted():
                    calls[graph] += 1
                    run()

                return counted

            session.bind = counting_bind
            return session

    with PlanExecutor(sparse, CountingBackend(sparse)) as executor:
        result = executor(images(1)[0])
    experts = {name: n for name, n in calls.items() if ".expert" in name}
    layers = sparse.moe_layers
    assert sum(experts.values()) == sum(layer.top_k for layer in layers)
    chosen = {f"{r.layer}.expert{int(e)}" for r in result.routing for e in r.ids}
    assert set(experts) == chosen
    assert all(n == 1 for name, n in calls.items() if name.startswith("segment"))


def test_bad_calls_are_user_errors(exported):
    _, sparse, dense = exported
    for bundle in (sparse, dense):
        executor = PlanExecutor(bundle)
        with pytest.raises(UserError, match=r"top_k must be an integer in \[1, 2\]"):
            executor(images(1)[0], top_k=3)
        with pytest.raises(UserError, match="top_k"):
            executor(images(1)[0], top_k=0)
        with pytest.raises(UserError, match=r"must be \[1, 3, 64, 64\] float32, got \[1, 3, 32, 32\] float32"):
            executor(np.zeros((1, 3, 32, 32), np.float32))


def test_every_session_shares_one_thread_pool_and_fp16_opens_the_fp16_graphs(exported, caplog):
    """ONNX Runtime's pool is the process's: every session uses it, and a later thread count is logged, not applied."""
    _, sparse, _ = exported
    with PlanExecutor(sparse) as executor:
        assert executor.backend.shared_pool and not executor.backend.options.use_per_session_threads
    backend = OnnxRuntimeBackend(sparse, threads=7, precision="fp16")
    assert backend.shared_pool and "threads=7 ignored" in caplog.text
    with PlanExecutor(sparse, backend) as executor:
        paths = {session.session._model_path for session in executor.sessions.values()}
    assert paths == {str(sparse.graph_path(name, "fp16")) for name in sparse.graphs}
    with pytest.raises(UserError, match="unknown precision"):
        OnnxRuntimeBackend(sparse, precision="int8")


@pytest.mark.parametrize("which", ["sparse", "dense"])
def test_host_bytes_are_the_frame_routing_and_outputs_only(exported, which):
    """Feature maps stay in the backend's buffers: per frame only the frame goes in and routing + outputs come out."""
    _, sparse, dense = exported
    bundle = sparse if which == "sparse" else dense
    with PlanExecutor(bundle) as executor:
        result = executor(images(1)[0])
        frame = 3 * IMGSZ * IMGSZ * 4
        outputs = result.boxes.nbytes + result.scores.nbytes
        routing = sum(layer.top_k * (8 + 4) for layer in bundle.moe_layers)  # int64 ids + float32 weights
        assert result.host_bytes == frame + outputs + routing
        assert executor(images(1)[0], top_k=1).host_bytes == frame + outputs + routing  # K' is a slot mask in the graphs
        assert executor.memory.nbytes > result.host_bytes  # the feature maps never crossed


def test_executor_close_frees_buffers_and_rejects_wrong_frames(exported):
    _, sparse, _ = exported
    executor = PlanExecutor(sparse)
    with pytest.raises(UserError, match=r"plan input must be \[1, 3, 64, 64\] float32, got \[1, 3, 64, 64\] uint8"):
        executor(np.zeros((1, 3, IMGSZ, IMGSZ), np.uint8))
    executor.close()
    assert executor.memory.buffers == {} and executor.sessions == {}
