"""Precise BatchNorm statistics before validation: eval routes as training does, frozen parts keep theirs."""
import pytest
import torch
from torch import nn

from edge_moe.data import generate, parse_synthetic
from edge_moe.data.augment import AugmentConfig
from edge_moe.data.loader import TrainDataset
from edge_moe.errors import UserError
from edge_moe.moe import ImageRouter, MoELayer
from edge_moe.trainers import TrainConfig
from edge_moe.trainers.precise_bn import recompute_batchnorm_statistics, training_batches


class RouterModel(nn.Module):
    """An image router on a fixed feature map, the shape the statistics pass feeds a detector: images in."""

    def __init__(self):
        super().__init__()
        self.router = ImageRouter(3, 4, norm=True, logit_norm=True)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.router(images)


def test_stale_statistics_collapse_eval_routing_and_recomputed_ones_spread_it():
    torch.manual_seed(0)
    model = RouterModel()
    images = 0.5 + 0.01 * torch.randn(64, 3, 8, 8)  # images that differ little: the logits' spread is tiny
    model.train()
    for _ in range(30):
        model(images[torch.randperm(64)[:16]])
    with torch.no_grad():
        model.router.logits.bias += torch.tensor([0.05, 0.0, 0.0, 0.0])  # the weights moved on after the statistics
    model.eval()
    assert model(images).argmax(-1).unique().tolist() == [0]  # stale statistics: one expert for every image

    seen = recompute_batchnorm_statistics(model, images.split(16))

    assert seen == 4 and not model.training
    assert len(model(images).argmax(-1).unique()) == 4  # as in training: every expert leads for some images
    pooled = images.mean(dim=(2, 3))  # (B, 3): what the input norm standardises
    torch.testing.assert_close(model.router.norm.running_mean, pooled.mean(0), atol=1e-6, rtol=0)
    assert model.router.norm.momentum == 0.1  # the training momentum is back


def test_no_batches_and_frozen_parts_keep_their_statistics():
    class PartlyFrozen(nn.Module):
        def __init__(self):
            super().__init__()
            self.frozen, self.trained = nn.BatchNorm2d(3), nn.BatchNorm2d(3)

        def train(self, mode: bool = True):
            super().train(mode)
            self.frozen.eval()  # as yolo-moe keeps its frozen experts
            return self

        def forward(self, x):
            return self.trained(self.frozen(x))

    model = PartlyFrozen().train()
    for norm in (model.frozen, model.trained):
        norm.running_mean.fill_(7.0)
    assert recompute_batchnorm_statistics(model, []) == 0
    assert model.training and model.trained.running_mean.eq(7.0).all()
    recompute_batchnorm_statistics(model, [torch.randn(4, 3, 5, 5) + 1.0])
    assert model.frozen.running_mean.eq(7.0).all()
    assert model.trained.running_mean.add(6.0).abs().max() < 0.5  # inputs ~1 after the frozen norm's (x - 7) / 1


def test_every_expert_normalises_the_whole_batch_as_in_training():
    torch.manual_seed(0)
    layer = MoELayer([nn.BatchNorm2d(3) for _ in range(4)], ImageRouter(3, 4, logit_norm=True), top_k=1)
    images = torch.randn(32, 3, 4, 4) + torch.arange(32.0).view(32, 1, 1, 1)  # images with different means
    recompute_batchnorm_statistics(layer, [images])
    assert len(layer(images)[1].ids.unique()) > 1  # eval routes the images to several experts...
    for expert in layer.experts:  # ...but each expert's statistics are those of every image
        torch.testing.assert_close(expert.running_mean, images.mean(dim=(0, 2, 3)), atol=1e-5, rtol=0)


def test_training_batches_are_the_same_on_every_rank_and_skip_single_images():
    source = generate(parse_synthetic("synthetic:n=10,imgsz=64"), "train")
    dataset = TrainDataset(source, 64, AugmentConfig(), seed=0)
    dataset.set_epoch(2, mosaic_on=True)
    first = list(training_batches(dataset, images=9, batch=4, seed=0, epoch=2, device="cpu"))
    again = list(training_batches(dataset, images=9, batch=4, seed=0, epoch=2, device="cpu"))
    assert [b.shape[0] for b in first] == [4, 4]  # the ninth image alone would have no spread
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert 0.0 <= first[0].min() and first[0].max() <= 1.0


def test_precise_bn_must_be_a_count():
    with pytest.raises(UserError, match="--precise-bn"):
        TrainConfig(precise_bn=-1)
