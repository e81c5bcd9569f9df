"""Noisy top-k gating (Shazeer et al. 2017): noise only picks experts, and only in training; weights from clean logits."""
import torch

from edge_moe.moe import NoisyTopKGate, importance_loss, load_loss, top_k_route


def _gate(seed: int = 0) -> NoisyTopKGate:
    torch.manual_seed(seed)
    gate = NoisyTopKGate(16, 6, 3)
    torch.nn.init.normal_(gate.w_gate.weight, std=0.3)
    torch.nn.init.normal_(gate.w_noise.weight, std=1.0)  # large noise: selections differ from the clean top-k
    return gate


def test_eval_has_no_noise_and_routes_by_clean_logits():
    gate, x = _gate().eval(), torch.randn(64, 16)
    first, second = gate(x), gate(x)
    probs, ids, weights = top_k_route(gate.w_gate(x), 3)
    assert torch.equal(first.ids, second.ids) and torch.equal(first.ids, ids)
    torch.testing.assert_close(first.weights, weights)
    assert first.load is None


def test_training_noise_changes_selection_but_weights_come_from_clean_logits():
    gate, x = _gate().train(), torch.randn(256, 16)
    routing = gate(x)
    clean_probs = gate.w_gate(x).softmax(-1)
    assert routing.ids.shape == routing.weights.shape == (256, 3)
    assert not torch.equal(routing.ids, clean_probs.topk(3).indices), "noise never changed a selection"
    chosen = clean_probs.gather(1, routing.ids)
    torch.testing.assert_close(routing.weights, chosen / chosen.sum(1, keepdim=True))  # renormalised clean softmax
    torch.testing.assert_close(routing.weights.sum(-1), torch.ones(256))
    torch.testing.assert_close(routing.probs, clean_probs)
    assert len({tuple(gate(x).ids[:8].flatten().tolist()) for _ in range(4)}) > 1, "training selection is not random"


def test_importance_and_load_losses_reach_both_gate_matrices():
    gate = _gate().train()
    routing = gate(torch.randn(128, 16))
    loss = importance_loss(routing) + load_loss(routing)
    loss.backward()
    assert loss > 0
    assert gate.w_gate.weight.grad.abs().sum() > 0 and gate.w_noise.weight.grad.abs().sum() > 0
