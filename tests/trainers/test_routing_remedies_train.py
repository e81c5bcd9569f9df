"""The routing remedies reach training: MoE options build the model, the aux-free bias moves every step, bad options fail early."""
import pytest
from edge_moe.checkpoint import load_checkpoint, model_from_checkpoint
from edge_moe.errors import UserError
from edge_moe.moe import moe_layers
from edge_moe.trainers import TrainConfig, train


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


@pytest.mark.parametrize("options, message", [({"balance_loss": "gshard"}, "--balance-loss"), ({"z_loss": -1.0}, "--z-loss")])
def test_bad_balance_options(options, message):
    with pytest.raises(UserError, match=message):
        TrainConfig(**options)


def test_unknown_moe_option_is_a_one_line_error(tmp_path):
    with pytest.raises(UserError, match="router_inptu"):
        train(model="esmoe-pico", data="synthetic:n=4,val=2,imgsz=64", epochs=1, imgsz=64, batch=2, workers=0,
              moe_options={"router_inptu": "gap"}, out=tmp_path / "run", progress=False)
