import math

import pytest
import torch

from edge_moe.moe import (MoELossWeights, NoisyTopKGate, Routing, importance_loss, load_balance_loss, load_loss, moe_aux_loss,
                          mutual_information_loss, router_z_loss, top_k_route)
from edge_moe.moe.losses import Z_LOSS, default_z_loss
from edge_moe.moe.routers import ImageRouter


def _routing(logits, k):
    probs, ids, weights = top_k_route(logits, k)
    return Routing("l", logits, probs, ids, weights)


def test_balance_loss_is_one_for_uniform_routing():
    # 4 experts, K=1, each expert chosen by exactly one image, equal probabilities
    logits = torch.eye(4) * 1e-3
    loss = load_balance_loss(_routing(logits, 1))
    torch.testing.assert_close(loss, torch.tensor(1.0), atol=1e-3, rtol=0)


def test_balance_loss_is_larger_for_collapsed_routing():
    collapsed = torch.tensor([[10.0, 0, 0, 0]]).repeat(8, 1)
    loss = load_balance_loss(_routing(collapsed, 1))
    assert loss > 3.9  # approaches E = 4
    uniform = load_balance_loss(_routing(torch.randn(256, 4) * 0.01, 2))
    assert abs(uniform.item() - 1.0) < 0.1 and loss > uniform


def test_cv_losses_zero_when_balanced_positive_when_not():
    balanced = _routing(torch.eye(4) * 5, 1)
    assert importance_loss(balanced) < 1e-6 and load_loss(balanced) < 1e-6
    skewed = _routing(torch.tensor([[5.0, 0, 0, 0]]).repeat(4, 1), 1)
    assert importance_loss(skewed) > 1 and load_loss(skewed) > 1


def test_z_loss_pulls_batch_standardised_logits_to_uniform_so_it_is_off_for_them():
    torch.manual_seed(0)
    router, x = ImageRouter(8, 4, logit_norm=True), torch.randn(32, 8, 4, 4)
    optimizer = torch.optim.Adam(router.parameters(), lr=0.05)
    entropy = lambda: -(router(x).softmax(-1) * router(x).log_softmax(-1)).sum(-1).mean().item() / math.log(4)  # noqa: E731
    before = entropy()
    for _ in range(100):
        optimizer.zero_grad()
        router_z_loss(_routing(router(x), 1)).backward()
        optimizer.step()
    assert before < 0.85 and entropy() > 0.95
    assert default_z_loss([router]) == 0.0 and default_z_loss([ImageRouter(8, 4)]) == Z_LOSS


def test_z_loss_grows_with_logit_scale():
    small = router_z_loss(_routing(torch.randn(8, 4), 2))
    large = router_z_loss(_routing(torch.randn(8, 4) * 50, 2))
    assert large > small


def test_aux_loss_combines_and_backpropagates():
    logits = torch.randn(8, 4, requires_grad=True)
    loss = moe_aux_loss([_routing(logits, 2)], MoELossWeights(balance=1.0, importance=0.1, load=0.1, z=0.01))
    loss.backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    assert moe_aux_loss([]) == 0


def test_mutual_information_loss_rewards_only_confident_and_balanced_routing():
    specialised = mutual_information_loss(_routing(torch.eye(4).repeat(2, 1) * 50, 1))
    torch.testing.assert_close(specialised, torch.tensor(-1.0))
    uniform = mutual_information_loss(_routing(torch.zeros(8, 4), 1))
    collapsed = mutual_information_loss(_routing(torch.tensor([[50.0, 0, 0, 0]]).repeat(8, 1), 1))
    torch.testing.assert_close(uniform, torch.tensor(-0.5))
    assert abs(collapsed.item()) < 1e-6 and specialised < uniform < collapsed


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mutual_information_loss_teaches_a_router_to_route_by_content(seed):
    """Four kinds of input, one router: minimising the loss alone gives each kind its own expert, with confidence."""
    torch.manual_seed(seed)
    kinds = torch.arange(64) % 4
    features = torch.nn.functional.one_hot(kinds, 4).float() + 0.1 * torch.randn(64, 4)  # (64, 4)
    router = torch.nn.Linear(4, 4)
    torch.nn.init.normal_(router.weight, std=0.01)
    optimizer = torch.optim.Adam(router.parameters(), lr=0.05)
    for _ in range(300):
        loss = mutual_information_loss(_routing(router(features), 1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    routing = _routing(router(features).detach(), 1)
    chosen = routing.ids[:, 0]
    assert all(len(set(chosen[kinds == kind].tolist())) == 1 for kind in range(4))  # one expert per kind
    assert len(set(chosen.tolist())) == 4 and routing.probs.max(dim=-1).values.min() > 0.9
    weights = MoELossWeights(balance=0.0, mutual_information=1.0, z=0.0)
    torch.testing.assert_close(moe_aux_loss([routing], weights), mutual_information_loss(routing))


def test_noisy_gate_train_noise_and_eval_determinism():
    gate = NoisyTopKGate(16, 4, 2)
    torch.nn.init.normal_(gate.w_gate.weight)
    x = torch.randn(32, 16)
    gate.train()
    routing = gate(x)
    assert routing.load is not None and routing.load.shape == (4,)
    load_loss(routing).backward()
    assert gate.w_noise.weight.grad is not None
    gate.eval()
    first, second = gate(x), gate(x)
    assert torch.equal(first.ids, second.ids) and first.load is None
    torch.testing.assert_close(first.weights.sum(-1), torch.ones(32))
