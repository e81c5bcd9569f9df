import numpy as np

from edge_moe.metrics import LayerUsage, health_warnings, specialisation


def usage(ids, probs=None, experts=4):
    ids = np.array(ids)
    if probs is None:
        probs = np.full((len(ids), experts), 0.05)
        for row, chosen in zip(probs, ids):
            row[chosen] = 0.85 / len(chosen)
        probs /= probs.sum(axis=1, keepdims=True)
    return LayerUsage("p3", ids, np.array(probs))


def test_healthy_routing_has_no_warning():
    u = usage([[0, 1], [2, 3], [0, 2], [1, 3]] * 5)
    assert u.entropy == 1.0 and health_warnings([u]) == []


def test_same_two_experts_for_every_image_is_a_collapse():
    u = usage([[0, 1]] * 20)
    (warning,) = health_warnings([u])
    assert "ROUTING COLLAPSED" in warning and "100% of images use experts [0, 1]" in warning and "[2, 3] are dead" in warning
    assert u.share.tolist() == [0.5, 0.5, 0.0, 0.0]


def test_uniform_router_probabilities_are_flagged():
    u = usage([[0, 1], [2, 3]] * 10, probs=np.full((20, 4), 0.25))
    assert any("ROUTING UNIFORM" in w for w in health_warnings([u]))


def test_specialisation_distance():
    a, b = usage([[0, 1]] * 4), usage([[2, 3]] * 4)
    assert specialisation({"few-large": [a], "many-small": [b]}) == {"p3": 1.0}
    assert specialisation({"few-large": [a], "many-small": [a]}) == {"p3": 0.0}
