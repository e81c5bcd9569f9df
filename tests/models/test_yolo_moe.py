"""YOLO-MoE ensembles: packing, the Hadamard fusion, alpha mixing of the experts' raw maps, frozen experts."""
from __future__ import annotations

import pytest
import torch

from edge_moe.models import create_model
from edge_moe.models.yolo_moe import FusionRouter, Packing
from edge_moe.moe import moe_execution

IMGSZ = 64


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.rand(3, 3, IMGSZ, IMGSZ, generator=torch.Generator().manual_seed(0))


def test_packing_round_trip_is_exact():
    packing = Packing((4, 6, 8), (8, 16, 32))
    maps = [torch.randn(2, c, IMGSZ // s, IMGSZ // s) for c, s in zip((4, 6, 8), (8, 16, 32))]
    packed = packing.pack(maps)
    assert packed.shape == (2, packing.width, 2, 2) and packing.width == 4 * 16 + 6 * 4 + 8
    assert all(torch.equal(a, b) for a, b in zip(packing.unpack(packed), maps))


def test_fusion_is_hadamard_product_with_concatenation():
    features = Packing((4, 6, 8), (8, 16, 32))
    router = FusionRouter(features, experts=2, width=5)
    per_expert = [[torch.randn(2, c, IMGSZ // s, IMGSZ // s) for c, s in zip((4, 6, 8), (8, 16, 32))] for _ in range(2)]
    fused = router.fuse(per_expert)
    for scale, convs in enumerate(router.reweight):
        a, b = convs[0](per_expert[0][scale]), convs[1](per_expert[1][scale])
        assert fused[scale].shape[1] == 3 * 5
        assert torch.allclose(fused[scale], torch.cat([a * b, a, b], dim=1))
    packed = torch.cat([features.pack(maps) for maps in per_expert], dim=1)
    assert router(packed).shape == (2, 2)


@pytest.mark.parametrize("name", ["yolo-moe-pico", "yolo-moe-pico-early"])
def test_outputs_are_alpha_mixes_of_the_experts_raw_maps(name, images):
    torch.manual_seed(0)
    model = create_model(name, imgsz=IMGSZ).eval()
    detectors = [expert.detector for expert in model.ensemble.experts] if name.endswith("early") else None
    with torch.no_grad():
        outputs, (routing,) = model(images)
        alpha = routing.dense_weights()  # (B, E): all experts (K = E)
        assert routing.layer == "router" and torch.allclose(alpha.sum(1), torch.ones(len(images)))
        assert torch.allclose(alpha, routing.probs, atol=1e-6)  # K = E: alpha is the router softmax
        if detectors is None:  # paper: every trunk runs, the heads are mixed
            env, _ = model.program().run(images)
            singles = [model.ensemble.experts[e].head([env[f"e{e}.n{s}"] for s in (3, 4, 5)]) for e in range(2)]
        else:
            singles = [detector(images)[0] for detector in detectors]
        for level, out in enumerate(outputs):
            mixed = sum(alpha[:, e].view(-1, 1, 1, 1) * singles[e][level] for e in range(2))
            assert torch.allclose(out, mixed, atol=1e-5)
        with moe_execution(model, "dense"):
            dense, _ = model(images)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(outputs, dense))


def test_frozen_experts_stay_in_eval_and_out_of_the_gradient():
    model = create_model("yolo-moe-pico", imgsz=IMGSZ, frozen=True).train()
    assert all(not m.training for m in model.expert_modules()) and model.ensemble.router.training
    assert all(not p.requires_grad for p in model.expert_parameters())
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(n.startswith("ensemble.router.") for n in trainable)
    from edge_moe.trainers.optim import build_optimizer

    optimiser = build_optimizer(model, "adamw", 1e-3, 0.9, 5e-4, 10.0)
    optimised = {id(p) for group in optimiser.param_groups for p in group["params"]}
    assert optimised and not optimised & {id(p) for p in model.expert_parameters()}


def test_limit_top_k_routes_to_the_top_expert_alone(images):
    from edge_moe.moe.layer import limit_top_k

    model = create_model("yolo-moe-pico", imgsz=IMGSZ).eval()
    with torch.no_grad():
        _, (both,) = model(images)
        limit_top_k(model, 1)
        _, (top1,) = model(images)
    assert top1.ids.shape == (len(images), 1) and torch.equal(top1.ids[:, 0], both.ids[:, 0])
    assert torch.equal(top1.weights, torch.ones(len(images), 1))
    with pytest.raises(ValueError, match=r"top_k must be in \[1, 1\]"):
        limit_top_k(model, 2)
