"""The routing remedies reach training: MoE options build the model, the aux-free bias moves every step, bad options fail early."""
import pytest
import torch
from edge_moe.checkpoint import load_checkpoint, model_from_checkpoint
from edge_moe.errors import UserError
from edge_moe.models import create_model
from edge_moe.moe import moe_layers
from edge_moe.trainers import TrainConfig, train
from edge_moe.trainers.optim import build_optimizer, set_lr, settle_routers, warmup_share


@pytest.mark.slow
def test_aux_free_bias_trains_and_ships_in_the_checkpoint(tmp_path):
    result = train(model="esmoe-pico", data="digits:n=8,val=4,imgsz=64", epochs=1, imgsz=64, batch=4, workers=0, close_mosaic=0,
                   threads=1, balance_loss="none", moe_options={"bias_rate": 0.05, "router_input": "gap+gmp"}, out=tmp_path / "run",
                   progress=False)
    model, _ = model_from_checkpoint(result.last_weights)
    biases = [layer.router.selection_bias for layer in moe_layers(model)]
    assert len(biases) == 4 and all(b.abs().sum() > 0 for b in biases)  # two steps moved every layer's bias
    assert all(b.abs().max() <= 2 * 0.05 + 1e-6 for b in biases)  # a sign step of bias_rate per step, not a gradient
    saved = load_checkpoint(result.last_weights)["train"]["config"]
    assert saved["moe_options"]["bias_rate"] == 0.05 and saved["balance_loss"] == "none"


@pytest.mark.slow
def test_mutual_information_loss_reaches_training(tmp_path):
    """--balance-loss mi reaches the loss: its term is negative (the others are >= 0) while routing is not collapsed."""
    result = train(model="esmoe-pico", data="synthetic:n=8,val=4,imgsz=64", epochs=1, imgsz=64, batch=4, workers=0, close_mosaic=0,
                   threads=1, balance_loss="mi", z_loss=0.0, out=tmp_path / "run", progress=False)
    assert -1.0 <= result.history[-1]["moe"] < 0
    assert load_checkpoint(result.last_weights)["train"]["config"]["balance_loss"] == "mi"


@pytest.mark.slow
def test_default_model_standardises_its_router_logits_with_the_mi_loss_and_no_z_loss(tmp_path):
    result = train(data="synthetic:n=8,val=4,imgsz=64", epochs=1, imgsz=64, batch=4, workers=0, close_mosaic=0, threads=1,
                   out=tmp_path / "run", progress=False)
    assert -1.0 <= result.history[-1]["moe"] < 0  # "auto" is the MI loss for standardised logits (a z-loss or Switch term is >= 0)
    model, _ = model_from_checkpoint(result.last_weights)
    norms = [layer.router.logit_norm for layer in moe_layers(model)]
    assert len(norms) == 4 and all(norm.running_mean.abs().sum() > 0 for norm in norms)  # trained statistics are shipped
    assert load_checkpoint(result.last_weights)["train"]["config"]["balance_loss"] == "mi"  # the loss "auto" chose

    # A run saved with "auto" before it chose mi for these routers resumes with the loss it trained with (none)
    payload = torch.load(result.last_weights, weights_only=True)
    payload["train"]["config"]["balance_loss"] = "auto"
    torch.save(payload, result.last_weights)
    resumed = train(out=tmp_path / "run", resume=True, epochs=2, given=("epochs",), progress=False)
    assert resumed.history[-1]["moe"] == 0.0 and load_checkpoint(resumed.last_weights)["train"]["config"]["balance_loss"] == "none"


def test_settled_routers_learn_at_the_base_rate_and_the_rest_is_untouched():
    optimizer = build_optimizer(create_model("esmoe-pico", imgsz=64), "adamw", 1e-3, 0.9, 5e-4, router_lr_mult=10.0)
    for epoch in range(4):  # settles from the fourth epoch (1-based)
        settle_routers(optimizer, epoch, 4)
        set_lr(optimizer, 1e-3)
        if epoch < 3:
            assert sorted(group["lr"] for group in optimizer.param_groups) == pytest.approx([1e-3, 1e-3, 1e-2])
    assert [group["lr"] for group in optimizer.param_groups] == pytest.approx([1e-3] * 3)


@pytest.mark.slow
def test_router_lr_settle_reaches_training_and_the_checkpoint(tmp_path):
    result = train(model="esmoe-pico", data="synthetic:n=8,val=4,imgsz=64", epochs=2, imgsz=64, batch=4, workers=0, close_mosaic=0,
                   threads=1, router_lr_settle=2, out=tmp_path / "run", progress=False)
    groups = load_checkpoint(result.last_weights)["train_state"]["optimizer"]["param_groups"]
    assert [g["lr_mult"] for g in groups if g.get("routers")] == [1.0]  # 10 in epoch 1, the base rate from epoch 2


@pytest.mark.parametrize("options, message", [({"balance_loss": "gshard"}, "--balance-loss"), ({"z_loss": -1.0}, "--z-loss"),
                                              ({"router_lr_settle": -1}, "--router-lr-settle"), ({"router_lr_settle": 1.5}, "--router-lr-settle")])
def test_bad_balance_options(options, message):
    with pytest.raises(UserError, match=message):
        TrainConfig(**options)


def test_unknown_moe_option_is_a_one_line_error(tmp_path):
    with pytest.raises(UserError, match="router_inptu"):
        train(model="esmoe-pico", data="synthetic:n=4,val=2,imgsz=64", epochs=1, imgsz=64, batch=2, workers=0,
              moe_options={"router_inptu": "gap"}, out=tmp_path / "run", progress=False)


def test_router_warmup_fades_to_top_k_over_its_epochs(tmp_path):
    assert [warmup_share(i, 4) for i in range(6)] == [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    assert warmup_share(3, 0) == 0.0
    with pytest.raises(UserError, match=r"--router-warmup must be in \[0, --epochs \(2\)\]"):
        TrainConfig(epochs=2, router_warmup=3.0)


@pytest.mark.parametrize("model, option, message", [
    ("yolo-pico", {"router_warmup": 0.5}, "--router-warmup 0.5: yolo-pico has no MoE layers"),
    ("yolo-pico", {"balance_loss": "cv2"}, "--balance-loss cv2: yolo-pico has no MoE layers"),
    ("xray-moe-pico", {"z_loss": 0.01}, "--z-loss 0.01: xray-moe-pico trains with Shazeer's importance"),
    ("xray-moe-pico", {"precise_bn": 64}, "--precise-bn 64: xray-moe-pico is a classifier"),
])
def test_router_options_a_model_would_ignore_are_refused(tmp_path, model, option, message):
    data = "xray-builtin" if model.startswith("xray") else "synthetic:n=4,val=2,imgsz=64"
    with pytest.raises(UserError, match=message):
        train(model=model, data=data, epochs=1, imgsz=64, batch=2, workers=0, out=tmp_path / "run", progress=False, **option)
    assert not (tmp_path / "run" / "weights").exists()
