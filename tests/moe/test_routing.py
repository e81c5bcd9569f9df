import pytest
import torch

from edge_moe.moe import Routing, top_k_route


def test_weights_are_renormalised_top_k_of_softmax():
    logits = torch.tensor([[2.0, 0.0, 1.0, -1.0]])
    probs, ids, weights = top_k_route(logits, 2)
    assert ids.tolist() == [[0, 2]]
    expected = probs[0, [0, 2]] / probs[0, [0, 2]].sum()
    torch.testing.assert_close(weights[0], expected)
    # equal to a softmax over the selected logits
    torch.testing.assert_close(weights[0], logits[0, [0, 2]].softmax(-1))


def test_selection_logits_choose_but_weights_come_from_logits():
    logits = torch.tensor([[2.0, 0.0, 1.0]])
    chooser = torch.tensor([[0.0, 5.0, 4.0]])
    probs, ids, weights = top_k_route(logits, 2, selection_logits=chooser)
    assert ids.tolist() == [[1, 2]]
    torch.testing.assert_close(weights[0], logits[0, [1, 2]].softmax(-1))


@pytest.mark.parametrize("k", [0, 5])
def test_top_k_out_of_range(k):
    with pytest.raises(ValueError, match=r"top_k must be in \[1, 4\]"):
        top_k_route(torch.zeros(1, 4), k)


def test_dense_weights_scatter():
    logits = torch.tensor([[0.0, 3.0, 1.0]])
    probs, ids, weights = top_k_route(logits, 2)
    routing = Routing("l", logits, probs, ids, weights)
    dense = routing.dense_weights()
    assert dense[0, 0] == 0 and torch.isclose(dense.sum(), torch.tensor(1.0))


def test_weight_floor_keeps_a_chosen_expert_in_the_mix_and_k_prime_exact():
    logits = torch.tensor([[6.0, 0.0, -1.0, 1.0]])
    chooser = torch.tensor([[5.0, 0.0, 4.0, 3.0]])  # a bias-like choice of expert 2, which the softmax weighs ~0
    probs, ids, plain = top_k_route(logits, 3, selection_logits=chooser)
    _, _, floored = top_k_route(logits, 3, selection_logits=chooser, floor=0.2)
    assert ids.tolist() == [[0, 2, 3]] and plain[0, 1] < 0.001
    assert floored[0, 1] > 0.1 and torch.isclose(floored.sum(), torch.tensor(1.0))
    torch.testing.assert_close(floored[0], torch.stack([probs[0, 0], torch.tensor(0.2), torch.tensor(0.2)]) / (probs[0, 0] + 0.4))
    # the runtime keeps K' slots and renormalises them: the same as routing to K' with the floor
    _, _, two = top_k_route(logits, 2, selection_logits=chooser, floor=0.2)
    torch.testing.assert_close(floored[:, :2] / floored[:, :2].sum(-1, keepdim=True), two)


def test_top_1_weight_is_one_with_the_switch_gradient():
    logits = torch.tensor([[0.0, 2.0, -1.0, 0.5]], requires_grad=True)
    chooser = torch.tensor([[0.0, 0.0, 9.0, 0.0]])  # a bias-like choice of an expert the softmax weighs little
    probs, ids, weights = top_k_route(logits, 1, selection_logits=chooser)
    assert ids.tolist() == [[2]] and torch.equal(weights, torch.ones(1, 1))
    weights.sum().backward()
    p = probs.detach()
    torch.testing.assert_close(logits.grad, p[0, 2] * (torch.nn.functional.one_hot(ids[0], 4).float() - p))  # d p_2 / d logits
