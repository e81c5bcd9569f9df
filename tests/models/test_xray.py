"""The MoE X-ray classifier: paper fidelity, the program, the frozen branch, vector-valued experts."""
import json

import pytest
import torch

from edge_moe.cli import main
from edge_moe.models import create_model
from edge_moe.models.resnet import FrozenResNetBranch
from edge_moe.moe import moe_execution


def test_paper_table_parameter_counts(capsys):
    # Parameter counts do not depend on the input size: a small --imgsz keeps the FLOP count cheap.
    assert main(["info", "xray-moe", "--num-classes", "474", "--imgsz", "64", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert {"params", "trainable_params", "frozen_params", "active_params"} <= set(info)
    assert abs(info["trainable_params"] / 24.4e6 - 1) < 0.02
    assert abs(info["frozen_params"] / 157e3 - 1) < 0.02
    assert info["moe_layers"] == [{"name": "moe", "experts": 10, "top_k": 3}]
    assert info["active_params"] < info["params"]


def test_forward_program_and_dense_twin():
    model, dense = create_model("xray-moe-pico").eval(), create_model("xray-dense-pico").eval()
    images = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        logits, routings = model(images)
        dense_logits, dense_routings = dense(images)
    assert logits.shape == dense_logits.shape == (3, 5) and dense_routings == []
    assert [r.layer for r in routings] == ["moe"] and routings[0].ids.shape == (3, 2)
    program = model.program()
    assert [step.outputs for step in program.steps] == [("trunk",), ("branch",), ("experts",), ("logits",)]
    assert program.moe_steps() == [2] and dense.program().moe_steps() == []
    env, _ = program.run(images, deploy=True)
    torch.testing.assert_close(env["probs"], logits.softmax(1))


def test_vector_experts_sparse_equals_dense():
    model = create_model("xray-moe-pico", experts=6, top_k=3).eval()
    torch.nn.init.normal_(model.moe.router.w_gate.weight)
    images = torch.rand(5, 3, 64, 64)
    with torch.no_grad(), moe_execution(model, "dense"):
        dense, _ = model(images)
    with torch.no_grad(), moe_execution(model, "sparse"):
        sparse, _ = model(images)
    torch.testing.assert_close(dense, sparse, atol=1e-5, rtol=1e-5)


def test_frozen_branch_is_deterministic_frozen_and_stays_in_eval():
    a, b = create_model("xray-moe-pico"), create_model("xray-moe-pico")
    for (name, p), q in zip(a.branch.state_dict().items(), b.branch.state_dict().values()):
        assert torch.equal(p, q), name  # same weights whatever the global RNG did in between
    assert not any(p.requires_grad for p in a.branch.parameters())
    a.train()
    assert a.training and not a.branch.training and not any(m.training for m in a.branch.modules())
    before = {k: v.clone() for k, v in a.branch.state_dict().items()}
    a(torch.rand(4, 3, 64, 64))  # a training forward must not update BN running statistics
    assert all(torch.equal(before[k], v) for k, v in a.branch.state_dict().items())
    assert sum(p.numel() for p in FrozenResNetBranch().parameters()) == 157504


@pytest.mark.parametrize("overrides, message", [
    ({"imgsz": 60}, r"imgsz must be a positive multiple of 8"),
    ({"top_k": 7}, r"top_k must be in \[1, 4\]"),
    ({"widths": (8,)}, r"widths and depths must have 2 entries"),
    ({"moe": 3}, r"unknown XrayConfig field"),
])
def test_bad_config(overrides, message):
    with pytest.raises(ValueError, match=message):
        create_model("xray-moe-pico", **overrides)
