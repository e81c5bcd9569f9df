import json

import torch

from edge_moe.cli import main
from edge_moe.models import create_model
from edge_moe.models.complexity import measure


def _info(capsys, *args):
    assert main(["info", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_esmoe_n_matches_yolo_master_n_size(capsys):
    info = _info(capsys, "esmoe-n")
    assert set(info) == {"name", "task", "params", "trainable_params", "frozen_params", "active_params", "gflops", "active_gflops", "imgsz", "moe_layers"}
    assert 2.4e6 <= info["params"] <= 3.0e6
    assert info["active_params"] < info["params"] and info["active_gflops"] < info["gflops"]
    assert info["moe_layers"] == [{"name": f"backbone.moe.p{s}", "experts": 4, "top_k": 2} for s in (2, 3, 4, 5)]


def test_capacity_preset_is_mostly_experts(capsys):
    info = _info(capsys, "esmoe-n-e8", "--imgsz", "320")
    assert info["active_params"] < 0.5 * info["params"]
    assert info["active_gflops"] < 0.6 * info["gflops"]


def test_dense_baseline_has_no_inactive_compute(capsys):
    info = _info(capsys, "yolo-pico", "--num-classes", "5")
    assert info["active_params"] == info["params"] and info["moe_layers"] == []


def test_flops_of_a_conv_are_counted_exactly():
    class Stem(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)  # 32x32 outputs at 64 px
            self.depthwise = torch.nn.Conv2d(8, 8, 5, padding=2, groups=8)
            self.fc = torch.nn.Linear(8, 4)

        def forward(self, x):
            return self.fc(self.depthwise(self.conv(x)).mean(dim=(2, 3)))

    cost = measure(Stem(), 64)
    expected = 2 * (8 * 32 * 32 * 3 * 9) + 2 * (8 * 32 * 32 * 1 * 25) + 2 * (4 * 8)
    assert cost.flops == expected and cost.layers == []
    assert cost.params == cost.active_params == sum(p.numel() for p in Stem().parameters())


def test_executed_flops_depend_on_the_chosen_experts():
    cost = measure(create_model("esmoe-pico", imgsz=64), 64)
    layer = cost.layers[0]
    cheap = cost.executed_flops({layer.name: [0, 1]})
    costly = cost.executed_flops({layer.name: [2, 3]})  # kernels 7 and 9
    assert costly > cheap


def test_info_errors_are_one_line(capsys):
    assert main(["info", "esmoe-nn"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "did you mean" in err
    assert main(["info", "esmoe-n", "--imgsz", "100"]) == 2
    assert "multiple of 32" in capsys.readouterr().err


def test_pico_capacity_preset_has_the_dense_twins_active_compute():
    dense = measure(create_model("yolo-pico"), 256)
    capacity = measure(create_model("esmoe-pico-e8"), 256)
    assert abs(capacity.active_flops / dense.active_flops - 1) < 0.05
    assert all(layer.experts == 8 and layer.top_k == 2 for layer in capacity.layers)
    experts, active = (sum(sum(layer.expert_params) for layer in capacity.layers), sum(layer.active_params() for layer in capacity.layers))
    assert experts > 3 * active  # four times the experts' parameters behind the same per-frame compute
