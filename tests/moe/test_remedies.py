"""The routing remedies of ImageRouter: what each changes, in training and in eval, and the aux-free bias update."""
import pytest
import torch
from torch import nn

from edge_moe.models import create_model
from edge_moe.models.config import ConfigError, MoEConfig
from edge_moe.models.esmoe import build_experts
from edge_moe.moe import ImageRouter, MoELayer, Routing, moe_layers, set_router_warmup, top_k_route, update_selection_bias
from edge_moe.moe.losses import auto_balance_loss, balance_loss_weights


def _layer(router: ImageRouter, channels: int = 8) -> MoELayer:
    experts = [nn.Conv2d(channels, channels, 1) for _ in range(router.logits.out_channels)]
    layer = MoELayer(experts, router, top_k=2)
    layer.name = "l"
    return layer


def test_gap_gmp_sees_a_peak_that_the_average_hides():
    flat = torch.full((1, 8, 6, 6), 0.5)
    peak = torch.zeros(1, 8, 6, 6)
    peak[..., 0, 0] = 0.5 * 36  # same mean, one strong spot
    torch.manual_seed(0)
    gap = ImageRouter(8, 4).eval()
    torch.testing.assert_close(gap(flat), gap(peak))
    both = ImageRouter(8, 4, pool="gap+gmp").eval()
    assert not torch.allclose(both(flat), both(peak))
    assert both.reduce.in_channels == 16


def test_conv_input_routes_on_local_structure():
    router = ImageRouter(8, 4, pool="conv").eval()
    x = torch.randn(3, 8, 10, 10)
    assert router(x).shape == (3, 4)
    shuffled = x.flatten(2)[..., torch.randperm(100)].view_as(x)  # same per-channel mean, other texture
    assert not torch.allclose(router(x), router(shuffled))


def test_spectrum_input_sees_scale_and_ignores_per_channel_gain_and_offset():
    torch.manual_seed(0)
    router = ImageRouter(8, 4, pool="spectrum").eval()
    assert router.reduce.in_channels == 16
    fine = torch.randn(2, 8, 16, 16)  # pixel-level detail: ~1/4 of the variance survives 2x2 pooling
    coarse = torch.nn.functional.interpolate(torch.randn(2, 8, 4, 4), scale_factor=4.0)  # 4x4 blocks: all of it survives
    gain, offset = torch.rand(1, 8, 1, 1) + 0.5, torch.randn(1, 8, 1, 1)
    torch.testing.assert_close(router(fine * gain + offset), router(fine), rtol=1e-4, atol=1e-4)
    shares_fine, shares_coarse = router.pool(fine).flatten(1), router.pool(coarse).flatten(1)  # (2, 16)
    assert shares_fine.max() < 0.5 and shares_coarse.min() > 0.99
    assert router.pool(torch.randn(1, 8, 2, 2)).shape == (1, 16, 1, 1)  # maps smaller than a pool: clamped
    assert ImageRouter(8, 4, pool="gap+gmp+spectrum").reduce.in_channels == 32


def test_standardised_input_tells_nearly_equal_images_apart():
    torch.manual_seed(0)
    base = torch.randn(1, 8, 6, 6) * 3
    x = base + torch.randn(16, 8, 6, 6) * 0.01  # images that differ by 0.3 % of their features
    plain, normed = ImageRouter(8, 4), ImageRouter(8, 4, norm=True)
    spread = lambda logits: logits.std(dim=0).mean().item()  # noqa: E731  (B, E) -> how much images differ
    assert spread(normed(x)) > 20 * spread(plain(x))
    assert normed(x[:1]).shape == (1, 4)  # a training batch of one image uses the running statistics
    normed.eval()
    torch.testing.assert_close(normed(x[:3])[1:2], normed(x[1:2]))  # eval: per image, independent of the batch


def test_logit_norm_gives_every_expert_images_however_skewed_the_router():
    torch.manual_seed(0)
    plain, normed = ImageRouter(8, 4), ImageRouter(8, 4, logit_norm=True)
    normed.load_state_dict(plain.state_dict(), strict=False)
    for router in (plain, normed):
        router.logits.bias.data = torch.tensor([6.0, 0.0, 0.0, 0.0])  # expert 0 leads for every image by a wide margin
    x = torch.randn(64, 8, 6, 6)
    assert plain(x).argmax(-1).unique().tolist() == [0]
    assert sorted(normed(x).argmax(-1).unique().tolist()) == [0, 1, 2, 3]
    normed.eval()
    torch.testing.assert_close(normed(x[:3])[1:2], normed(x[1:2]))  # eval: running statistics, per image


def test_temperature_divides_the_logits():
    torch.manual_seed(0)
    plain = ImageRouter(8, 4).eval()
    sharp = ImageRouter(8, 4, temperature=0.25).eval()
    sharp.load_state_dict(plain.state_dict())
    x = torch.randn(2, 8, 5, 5)
    torch.testing.assert_close(sharp(x), plain(x) * 4)


@pytest.mark.parametrize("options", [{"jitter": 1.0}, {"expert_dropout": 0.5}])
def test_selection_noise_acts_in_training_only(options):
    torch.manual_seed(0)
    router = ImageRouter(8, 4, **options)
    x = torch.randn(64, 8, 5, 5)
    router.eval()
    clean = router(x)
    assert isinstance(clean, torch.Tensor)  # eval: plain logits, what export traces
    router.train()
    logits, selection = router(x)
    torch.testing.assert_close(logits, clean)  # the weights' logits are never perturbed
    clean_ids = clean.topk(2).indices
    noisy_ids = selection.topk(2).indices
    assert (clean_ids != noisy_ids).any(dim=1).float().mean() > 0.2


def test_selection_scores_choose_while_the_logits_weigh():
    router = ImageRouter(8, 4, bias_rate=0.1).eval()
    router.selection_bias.copy_(torch.tensor([0.0, 0.0, 0.0, 50.0]))  # expert 3 always selected
    layer = _layer(router).eval()
    x = torch.randn(5, 8, 4, 4)
    routing = layer.route(x)
    assert (routing.ids == 3).any(dim=1).all()
    probs = routing.logits.softmax(-1)
    expected = probs.gather(1, routing.ids) / probs.gather(1, routing.ids).sum(1, keepdim=True)
    torch.testing.assert_close(routing.weights, expected)  # the bias does not reach the weights


def test_bias_update_moves_load_from_busy_to_idle_experts():
    router = ImageRouter(8, 4, bias_rate=0.05)
    layer = _layer(router)
    logits = torch.tensor([[3.0, 2.0, 0.0, 0.0]]).repeat(8, 1)  # every image picks experts 0 and 1
    probs, ids, weights = top_k_route(logits, 2)
    update_selection_bias(layer, [Routing("l", logits, probs, ids, weights)])
    torch.testing.assert_close(router.selection_bias, torch.tensor([-0.05, -0.05, 0.05, 0.05]))
    update_selection_bias(layer, [Routing("other", logits, probs, ids, weights)])  # another layer's routing: no change
    torch.testing.assert_close(router.selection_bias, torch.tensor([-0.05, -0.05, 0.05, 0.05]))


@pytest.mark.parametrize("scores", ["standardised", "logits"])
def test_bias_balancing_balances_a_skewed_router_without_a_loss(scores):
    torch.manual_seed(0)
    router = ImageRouter(8, 4, bias_rate=0.02, bias_scores=scores)
    layer = _layer(router)
    with torch.no_grad():
        router.logits.bias.copy_(torch.tensor([2.0, 1.0, -1.0, -2.0]))  # a strong preference for experts 0, 1
    x = torch.randn(64, 8, 4, 4)
    for _ in range(200):
        update_selection_bias(layer, [layer.route(x)])
    load = torch.zeros(4).scatter_add(0, layer.eval().route(x).ids.flatten(), torch.ones(128))
    assert load.min() >= 0.15 * 128  # every expert takes a fair share; without the bias experts 2, 3 get none


def test_balance_loss_recipes():
    assert balance_loss_weights("switch").balance == 1.0
    cv2 = balance_loss_weights("cv2", z=0.0)
    assert (cv2.balance, cv2.importance, cv2.load, cv2.z) == (0.0, 1.0, 1.0, 0.0)
    assert balance_loss_weights("none").balance == 0.0
    mi = balance_loss_weights("mi")
    assert (mi.balance, mi.mutual_information) == (0.0, 1.0)
    with pytest.raises(ValueError, match="switch, cv2, mi, none, got 'gshard'"):
        balance_loss_weights("gshard")


def test_auto_balance_loss_follows_the_routers():
    plain, biased, standardised = ImageRouter(8, 4), ImageRouter(8, 4, bias_rate=0.01), ImageRouter(8, 4, bias_rate=0.01, logit_norm=True)
    assert [auto_balance_loss([r]) for r in (plain, biased, standardised)] == ["switch", "none", "mi"]
    assert auto_balance_loss([standardised], mi_for_standardised=False) == "none"  # runs saved with "auto" before mi


@pytest.mark.parametrize("field, value", [("router_input", "gmp"), ("router_temperature", 0.0), ("router_jitter", -1.0),
                                          ("expert_dropout", 1.0), ("bias_rate", -0.1), ("bias_scores", "probs"), ("weight_floor", 1.5),
                                          ("shared_experts", -1), ("shared_kernel_sizes", (3, 4))])
def test_bad_remedy_values_name_the_field(field, value):
    with pytest.raises(ConfigError, match=f"moe.{field}"):
        MoEConfig(**{field: value})


def test_zoo_model_takes_the_remedies():
    model = create_model("esmoe-pico", imgsz=64, moe={"router_input": "gap+gmp", "bias_rate": 0.01, "router_temperature": 0.5})
    routers = [m.router for m in model.modules() if isinstance(m, MoELayer)]
    assert routers and all(r.temperature == 0.5 and r.selection_bias.shape == (4,) for r in routers)
    assert "backbone.moe.p3.router.selection_bias" in model.state_dict()


def test_router_inputs_choose_what_each_stage_routes_by():
    model = create_model("esmoe-pico", imgsz=64, moe={"router_input": "gap", "router_inputs": ["spectrum", "spectrum", "gap+gmp", "gap"]})
    seen = {name.rsplit(".", 1)[-1]: m.router.pool.names for name, m in model.named_modules() if isinstance(m, MoELayer)}
    assert seen == {"p2": ("spectrum",), "p3": ("spectrum",), "p4": ("gap", "gmp"), "p5": ("gap",)}


@pytest.mark.parametrize("inputs", [("spectrum",), ("spectrum", "spectrum", "gap", "gmp")])
def test_router_inputs_need_a_known_input_per_stage(inputs):
    with pytest.raises(ConfigError, match=r"moe.router_inputs .* each of the stages \(2, 3, 4, 5\)"):
        MoEConfig(router_inputs=inputs)


def test_bottleneck_experts_take_their_hidden_width_from_the_expansion():
    experts = build_experts(64, MoEConfig(expert_type="bottleneck", expert_expansion=0.25), 2)
    assert [expert.cv1.conv.out_channels for expert in experts] == [16, 16]
    with pytest.raises(ConfigError, match="moe.expert_expansion"):
        MoEConfig(expert_expansion=0.0)


def test_shared_experts_take_their_own_kernel_sizes():
    model = create_model("esmoe-pico-shared", imgsz=64, moe={"kernel_sizes": [5], "shared_kernel_sizes": [3]})
    layer = moe_layers(model)[0]

    def kernel(expert: nn.Module) -> int:
        return expert.depthwise.conv.kernel_size[0]

    assert [kernel(e) for e in layer.experts] == [5, 5, 5, 5] and [kernel(e) for e in layer.shared] == [3]
    default = moe_layers(create_model("esmoe-pico-shared", imgsz=64))[0]
    assert [kernel(e) for e in default.experts] == [3, 5, 7, 9] and [kernel(e) for e in default.shared] == [3]


def test_detached_router_trains_itself_but_sends_no_gradient_into_its_input():
    torch.manual_seed(0)
    for detach in (False, True):
        router = ImageRouter(8, 4, norm=True, detach=detach)
        x = torch.randn(3, 8, 5, 5, requires_grad=True)
        router(x).logsumexp(dim=1).sum().backward()  # any loss of the logits, such as the balance loss
        assert router.logits.weight.grad.abs().sum() > 0
        assert (x.grad is None) == detach


def test_router_warmup_mixes_every_expert_in_training_only():
    torch.manual_seed(0)
    layer = _layer(ImageRouter(8, 4))
    x = torch.randn(3, 8, 5, 5)
    routing = layer.route(x)
    outputs = torch.stack([expert(x) for expert in layer.experts], dim=1)  # (B, E, C, H, W)
    expect = lambda w: (outputs * w[:, :, None, None, None]).sum(1)  # noqa: E731  (B, E) weights -> mixture
    layer.train()
    set_router_warmup(layer, 1.0)
    torch.testing.assert_close(layer.mix(x, routing), expect(routing.probs))  # all experts, full softmax
    set_router_warmup(layer, 0.25)
    blended = 0.75 * routing.dense_weights() + 0.25 * routing.probs
    torch.testing.assert_close(layer.mix(x, routing), expect(blended))
    layer.eval()  # hard top-K: warm-up never reaches eval or the exports
    torch.testing.assert_close(layer.mix(x, routing), expect(routing.dense_weights()))
    with pytest.raises(ValueError, match="share must be in"):
        set_router_warmup(layer, 1.5)


@pytest.mark.parametrize("expert_type", ["dwsep", "bottleneck"])
def test_shared_expert_init_starts_every_expert_as_the_same_function(expert_type):
    torch.manual_seed(0)
    shared = build_experts(8, MoEConfig(expert_type=expert_type, expert_init="shared"), 4)
    independent = build_experts(8, MoEConfig(expert_type=expert_type), 4)
    x = torch.randn(2, 8, 9, 9)
    with torch.no_grad():
        first = shared[0].eval()(x)
        assert all(torch.equal(expert.eval()(x), first) for expert in shared[1:])  # 3x3 inside 5x5/7x7/9x9: same map
        assert not torch.allclose(independent[1].eval()(x), independent[0].eval()(x))
    with pytest.raises(ConfigError, match="moe.expert_init"):
        MoEConfig(expert_init="copied")


def test_standardised_scores_bound_the_bias_whatever_the_logit_scale():
    torch.manual_seed(0)
    router = ImageRouter(8, 4, bias_rate=0.01).eval()
    x = torch.randn(5, 8, 4, 4)
    logits, selection = router(x)
    torch.testing.assert_close(selection.mean(-1), torch.zeros(5), atol=1e-5, rtol=0)
    torch.testing.assert_close(selection.std(-1, unbiased=False), torch.ones(5), atol=1e-3, rtol=0)
    with torch.no_grad():
        router.logits.weight.mul_(100)  # a router whose logits grew 100x...
        router.logits.bias.mul_(100)
    torch.testing.assert_close(router(x)[1], selection, atol=1e-3, rtol=0)  # ...selects on the same scores: the bias keeps its grip
    assert logits.argsort(-1).equal(selection.argsort(-1))  # same order as the logits


def test_checkpoints_from_before_bias_scores_keep_biasing_the_logits():
    from edge_moe.models.config import DetectorConfig

    saved = create_model("esmoe-pico", moe={"bias_rate": 0.01}).config.to_dict()
    assert saved["moe"]["bias_scores"] == "standardised"
    del saved["moe"]["bias_scores"]  # a config written before the field existed
    assert DetectorConfig.from_dict(saved).moe.bias_scores == "logits"


def test_shared_experts_always_run_and_top_1_routing_still_trains_the_router():
    torch.manual_seed(0)
    router = ImageRouter(8, 4)
    shared = nn.Conv2d(8, 8, 1)
    layer = MoELayer([nn.Conv2d(8, 8, 1) for _ in range(4)], router, top_k=1, shared=[shared])
    x = torch.randn(3, 8, 5, 5)
    routing = layer.route(x)
    assert torch.equal(routing.weights, torch.ones(3, 1))  # one routed expert: its renormalised weight is 1
    chosen = torch.stack([layer.experts[int(e)](x[i : i + 1])[0] for i, e in enumerate(routing.ids[:, 0])])
    expect = (shared(x) + chosen) / 2  # the routed mixture averaged with the shared expert, as the dense twin averages
    layer.eval()
    torch.testing.assert_close(layer.mix(x, routing), expect)
    layer.train()
    torch.testing.assert_close(layer.mix(x, routing), expect)
    layer.mix(x, layer.route(x)).square().mean().backward()
    assert router.logits.weight.grad is not None and router.logits.weight.grad.abs().sum() > 0
