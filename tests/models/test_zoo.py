import pytest
import torch

from edge_moe.errors import UserError
from edge_moe.models import create_model, list_models
from edge_moe.moe import moe_execution, moe_layers

SMALL_IMGSZ = 64  # shapes and routing do not depend on size; keeps the parametrised tests fast


@pytest.fixture(scope="module", params=list_models())
def model(request):
    return create_model(request.param, imgsz=SMALL_IMGSZ)


def test_forward_shapes_and_finite(model):
    if model.config.task != "detect":
        pytest.skip("detector outputs (classifiers: tests/models/test_xray.py)")
    model.eval()
    images = torch.rand(2, 3, SMALL_IMGSZ, SMALL_IMGSZ)
    with torch.no_grad():
        outputs, routings = model(images)
    cfg = model.config
    channels = model.head.box_channels + cfg.num_classes
    assert [tuple(o.shape) for o in outputs] == [(2, channels, SMALL_IMGSZ // s, SMALL_IMGSZ // s) for s in cfg.strides]
    assert all(torch.isfinite(o).all() for o in outputs)
    boxes, scores = model.decode(outputs)
    anchors = sum((SMALL_IMGSZ // s) ** 2 for s in cfg.strides)
    assert boxes.shape == (2, anchors, 4) and scores.shape == (2, anchors, cfg.num_classes)
    assert (boxes[..., 2:] >= boxes[..., :2]).all() and ((scores >= 0) & (scores <= 1)).all()


def test_routing_shapes(model):
    model.eval()
    with torch.no_grad():
        _, routings = model(torch.rand(3, 3, SMALL_IMGSZ, SMALL_IMGSZ))
    layers = moe_layers(model)
    assert [r.layer for r in routings] == [layer.name for layer in layers]
    for routing, layer in zip(routings, layers):
        assert routing.ids.shape == routing.weights.shape == (3, layer.top_k)
        assert routing.logits.shape == routing.probs.shape == (3, layer.num_experts)
        assert routing.ids.dtype == torch.int64
        torch.testing.assert_close(routing.weights.sum(-1), torch.ones(3))


def test_soft_and_hard_top_k_equal_in_eval(model):
    model.eval()
    images = torch.rand(2, 3, SMALL_IMGSZ, SMALL_IMGSZ)
    with torch.no_grad(), moe_execution(model, "dense"):
        dense, _ = model(images)
    with torch.no_grad(), moe_execution(model, "sparse"):
        sparse, _ = model(images)
    for a, b in zip(dense, sparse):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_same_return_shape_in_train_and_eval(model):
    images = torch.rand(2, 3, SMALL_IMGSZ, SMALL_IMGSZ)
    train_out, train_routing = model.train()(images)
    with torch.no_grad():
        eval_out, eval_routing = model.eval()(images)
    assert [o.shape for o in train_out] == [o.shape for o in eval_out]
    assert len(train_routing) == len(eval_routing)


def test_router_gets_gradients_in_training(model):
    layers = moe_layers(model)
    if not layers:
        pytest.skip("dense baseline has no router")
    model.train().zero_grad()
    outputs, routings = model(torch.rand(2, 3, SMALL_IMGSZ, SMALL_IMGSZ))
    sum(o.square().mean() for o in outputs).backward()
    for layer in layers:
        weight = layer.router.w_gate.weight if hasattr(layer.router, "w_gate") else layer.router.logits.weight
        grad = weight.grad
        assert grad is not None and grad.abs().sum() > 0, layer.name


def test_unknown_model_suggests_close_names():
    with pytest.raises(UserError, match=r"unknown model 'esmoe-nano'.*esmoe-n.*edge-moe models"):
        create_model("esmoe-nano")


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"imgsz": 100}, r"imgsz must be a positive multiple of 32"),
        ({"imgsz": 0}, r"imgsz must be a positive integer"),
        ({"num_classes": 0}, r"num_classes must be a positive integer"),
        ({"moe": {"top_k": 5}}, r"moe.top_k must be in \[1, 4\]"),
        ({"moe": {"experts": -1}}, r"moe.experts must be a positive integer"),
        ({"width": 3}, r"unknown DetectorConfig field"),
    ],
)
def test_bad_config_fails_at_construction(overrides, message):
    with pytest.raises(ValueError, match=message):
        create_model("esmoe-n", **overrides)
