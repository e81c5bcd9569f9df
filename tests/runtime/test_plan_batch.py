"""Batch > 1: a bundle exported with --batch B gives, frame for frame, what the batch-1 bundle gives, while each
expert runs once per call on the images that chose it."""
from __future__ import annotations

import numpy as np
import pytest

from edge_moe.errors import UserError
from edge_moe.runtime.bundle import load_bundle
from edge_moe.runtime.plan import PlanExecutor, expert_groups

IMGSZ = 64
BATCH = 4


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    """(batch-1 sparse, batch-4 sparse, batch-4 dense) of one esmoe-pico whose routers are sharpened so that the
    images of a batch choose different experts."""
    torch = pytest.importorskip("torch", reason="exporting a bundle needs torch (the runtime-only venv has none)")
    from edge_moe.exporters.export import export_with_report
    from edge_moe.models import create_model
    from edge_moe.moe import moe_layers

    torch.manual_seed(2)
    model = create_model("esmoe-pico").eval()
    with torch.no_grad():
        for layer in moe_layers(model):
            layer.router.logits.weight.mul_(10.0)  # small differences between images now change the choice
            layer.router.logits.bias.copy_(torch.linspace(0, 3e-3, layer.num_experts))  # and no two logits tie
            layer.router.reduce.bias.zero_()
    root = tmp_path_factory.mktemp("batch")
    export_with_report(model, root / "one", imgsz=IMGSZ, routing="sparse", parity_count=1)
    export_with_report(model, root / "four", imgsz=IMGSZ, routing="sparse", parity_count=6, batch=BATCH, other_out=root / "four-dense")
    return load_bundle(root / "one"), load_bundle(root / "four"), load_bundle(root / "four-dense")


def frames(count: int) -> np.ndarray:
    """Black, white, noise and reddish images in turn: the first MoE layer sends black elsewhere than the rest."""
    rng = np.random.default_rng(5)
    reddish = np.full((3, IMGSZ, IMGSZ), 0.5)
    reddish[0] = 1.0
    kinds = [np.zeros((3, IMGSZ, IMGSZ)), np.ones((3, IMGSZ, IMGSZ)), rng.random((3, IMGSZ, IMGSZ)), reddish]
    return np.stack([kinds[i % len(kinds)] for i in range(count)]).astype(np.float32)  # (N, 3, H, W)


def test_expert_groups_lists_image_and_slot_per_expert():
    chosen = np.array([[2, 0], [0, 3], [2, 3]])
    assert expert_groups(chosen) == {2: [(0, 0), (2, 0)], 0: [(0, 1), (1, 0)], 3: [(1, 1), (2, 1)]}


@pytest.mark.parametrize("top_k", [None, 1])
def test_batch_equals_frame_by_frame(bundles, top_k):
    one, four, dense = bundles
    images = frames(BATCH)
    with PlanExecutor(one) as single, PlanExecutor(four) as batched, PlanExecutor(dense) as batched_dense:
        assert batched.batch == BATCH and batched.input.shape[0] == BATCH
        expected = [single(images[i : i + 1], top_k) for i in range(BATCH)]
        for got in (batched.run_batch(images, top_k), batched_dense.run_batch(images, top_k)):
            assert len(got) == BATCH
            for a, b in zip(got, expected):
                np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-3)
                np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)
                for x, y in zip(a.routing, b.routing):
                    np.testing.assert_array_equal(x.ids, y.ids)
                    np.testing.assert_allclose(x.weights, y.weights, atol=1e-6)
    choices = [{tuple(result.routing[layer].ids.tolist()) for result in expected} for layer in range(len(one.moe_layers))]
    assert max(len(c) for c in choices) > 1, "the gather path ran: the images did not all choose alike"


def test_a_short_batch_is_padded_and_its_padding_ignored(bundles):
    one, four, _ = bundles
    images = frames(BATCH)[:3]
    with PlanExecutor(one) as single, PlanExecutor(four) as batched:
        got = batched.run_batch(images)
        assert len(got) == 3
        for i, result in enumerate(got):
            np.testing.assert_allclose(result.scores, single(images[i : i + 1]).scores, atol=1e-5)
        first = batched(images[:1])  # one frame on a batched bundle
        np.testing.assert_allclose(first.scores, got[0].scores, atol=1e-6)


def test_host_bytes_per_frame_is_a_share_of_the_call(bundles):
    _, four, _ = bundles
    with PlanExecutor(four) as batched:
        results = batched.run_batch(frames(BATCH))
        frame = batched.input.nbytes // BATCH
        outputs = sum(value.nbytes for value in results[0].outputs.values())
        ids_weights = sum(layer.top_k * (8 + 4) for layer in four.moe_layers)  # int64 ids + float32 weights per frame
        assert all(r.host_bytes == frame + outputs + ids_weights for r in results)


def test_too_many_frames_is_one_line(bundles):
    _, four, _ = bundles
    with PlanExecutor(four) as batched, pytest.raises(UserError, match=r"plan input must be \[N \(1\.\.4\), 3, 64, 64\] float32"):
        batched.run_batch(frames(BATCH + 1))


def test_detector_takes_a_list_of_frames(bundles):
    from edge_moe.runtime.detector import Detector

    one, four, _ = bundles
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (48 + 8 * i, 80, 3), dtype=np.uint8) for i in range(BATCH + 1)]  # two calls
    with Detector(one, backend="onnxruntime", conf=0.01) as single, Detector(four, backend="onnxruntime", conf=0.01) as batched:
        got = batched(images)
        assert isinstance(got, list) and len(got) == len(images)
        for image, result in zip(images, got):
            want = single(image)
            np.testing.assert_allclose(result.detections.xyxy, want.detections.xyxy, atol=1e-2)
            assert len(result.detections) > 0
            assert [e.ids.tolist() for e in result.experts] == [e.ids.tolist() for e in want.experts]


def test_device_row_copies_merge_consecutive_rows():
    pytest.importorskip("cuda", reason="the GPU backends' row copies need cuda-python")
    from edge_moe.runtime.backends.cuda_runtime import row_runs

    assert row_runs([0, 1, 2, 5], [3, 4, 5, 0]) == [(0, 3, 3), (5, 0, 1)]
    assert row_runs([2, 0], [0, 1]) == [(2, 0, 1), (0, 1, 1)]


def test_file_sources_of_a_multistream_run_a_batch_a_call(bundles, tmp_path):
    import cv2

    from edge_moe.runtime.detector import Detector

    one, four, _ = bundles
    rng = np.random.default_rng(4)
    folders = []
    for source in range(3):
        folder = tmp_path / f"cam{source}"
        folder.mkdir()
        for i in range(8):
            cv2.imwrite(str(folder / f"{i:02d}.png"), rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
        folders.append(str(folder))
    with Detector(four, backend="onnxruntime", conf=0.01) as batched, Detector(one, backend="onnxruntime", conf=0.01) as single:
        sizes = []
        run_batch = batched.executor.run_batch
        batched.executor.run_batch = lambda images, top_k=None: sizes.append(len(images)) or run_batch(images, top_k)
        results = list(batched.stream(folders))
        assert len(results) == 24 and sizes == [4, 4] * 3  # each source: its 8 frames in two calls of 4
        sizes.clear()
        assert len(list(batched.stream(folders[0], max_frames=5))) == 5 and sizes == [4, 1]
        for result in results[:6]:
            want = single(cv2.imread(str(tmp_path / result.source)))  # source: "cam0/00.png"
            assert [e.ids.tolist() for e in result.experts] == [e.ids.tolist() for e in want.experts]
            np.testing.assert_allclose(result.detections.xyxy, want.detections.xyxy, atol=1e-2)
