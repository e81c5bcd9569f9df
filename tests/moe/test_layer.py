import pytest
import torch
from torch import nn

from edge_moe.moe import ImageRouter, MoELayer, moe_execution


def _layer(experts=4, top_k=2, channels=8):
    experts_ = [nn.Conv2d(channels, channels, k, padding=k // 2) for k in (1, 3, 5, 7)[:experts]]
    return MoELayer(experts_, ImageRouter(channels, experts), top_k, post=nn.BatchNorm2d(channels), residual=True)


@pytest.mark.parametrize("batch", [1, 5])
def test_soft_and_hard_agree_in_eval(batch):
    layer = _layer().eval()
    x = torch.randn(batch, 8, 12, 12)
    with torch.no_grad(), moe_execution(layer, "dense"):
        dense, routing_dense = layer(x)
    with torch.no_grad(), moe_execution(layer, "sparse"):
        sparse, routing_sparse = layer(x)
    torch.testing.assert_close(dense, sparse, atol=1e-5, rtol=1e-5)
    assert torch.equal(routing_dense.ids, routing_sparse.ids)


def test_sparse_runs_only_selected_experts():
    layer = _layer().eval()
    calls = []
    for e, expert in enumerate(layer.experts):
        expert.register_forward_hook(lambda m, i, o, e=e: calls.append((e, i[0].shape[0])))
    x = torch.randn(3, 8, 6, 6)
    with torch.no_grad():
        _, routing = layer(x)
    chosen = {e for row in routing.ids.tolist() for e in row}
    assert {e for e, _ in calls} == chosen
    # each expert runs once, batched over the images that chose it
    assert sum(n for _, n in calls) == 3 * layer.top_k


def test_router_gets_gradients_in_training():
    layer = _layer().train()
    y, routing = layer(torch.randn(4, 8, 6, 6))
    y.square().mean().backward()
    grad = layer.router.logits.weight.grad
    assert grad is not None and grad.abs().sum() > 0


def test_same_return_type_in_train_and_eval():
    layer = _layer()
    x = torch.randn(2, 8, 6, 6)
    train_out = layer.train()(x)
    eval_out = layer.eval()(x)
    assert type(train_out) is type(eval_out) is tuple and len(train_out) == len(eval_out) == 2


def test_execution_context_restores():
    layer = _layer()
    with moe_execution(layer, "dense"):
        assert layer.execution == "dense"
    assert layer.execution == "auto"
    with pytest.raises(ValueError, match="execution"):
        with moe_execution(layer, "fast"):
            pass


def test_top_k_larger_than_experts_fails_at_construction():
    with pytest.raises(ValueError, match=r"top_k must be in \[1, 4\]"):
        _layer(top_k=5)
