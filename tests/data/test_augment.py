import numpy as np
import torch

from edge_moe.data import generate, parse_synthetic
from edge_moe.data.augment import AugmentConfig, flip, letterbox, mosaic, random_affine
from edge_moe.data.loader import TrainDataset, _to_chw_rgb


def test_letterbox_maps_pixels():
    image = np.zeros((50, 100, 3), np.uint8)
    image[10:20, 30:40] = 255
    out, ratio, (px, py) = letterbox(image, 64)
    assert out.shape == (64, 64, 3) and ratio == 0.64 and px == 0 and py == 16
    ys, xs = np.nonzero(out[..., 0] > 128)
    assert abs(xs.min() - 30 * ratio) <= 1 and abs(ys.min() - (10 * ratio + py)) <= 1


def test_flip_moves_boxes():
    image = np.zeros((10, 20, 3), np.uint8)
    _, boxes = flip(image, np.array([[1, 2, 5, 6]], np.float32), horizontal=True)
    assert boxes.tolist() == [[15, 2, 19, 6]]


def test_affine_keeps_boxes_on_their_objects():
    rng = np.random.default_rng(0)
    image = np.zeros((64, 64, 3), np.uint8)
    image[20:30, 10:40] = 255
    boxes = np.array([[10, 20, 40, 30]], np.float32)
    out, classes, new = random_affine(image, np.array([1]), boxes, rng, 64, degrees=0, translate=0.1, scale=0.3)
    ys, xs = np.nonzero(out[..., 0] > 128)
    np.testing.assert_allclose(new[0], [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], atol=1.5)
    assert classes.tolist() == [1]


def test_mosaic_combines_four_images():
    rng = np.random.default_rng(1)
    parts = [(np.full((32, 32, 3), 50 * i, np.uint8), np.array([i]), np.array([[4, 4, 28, 28]], np.float32)) for i in range(4)]
    canvas, classes, boxes = mosaic(parts, 32, rng)
    assert canvas.shape == (64, 64, 3) and sorted(classes.tolist()) == [0, 1, 2, 3]


def test_train_dataset_is_a_function_of_seed_epoch_index():
    source = generate(parse_synthetic("synthetic:n=8,imgsz=64"), "train")
    a, b = TrainDataset(source, 64, AugmentConfig(), seed=1), TrainDataset(source, 64, AugmentConfig(), seed=1)
    a.set_epoch(2, mosaic_on=True)
    b.set_epoch(2, mosaic_on=True)
    image_a, targets_a = a[3]
    image_b, targets_b = b[3]
    assert image_a.shape == (3, 64, 64) and image_a.dtype == torch.uint8
    assert torch.equal(image_a, image_b) and torch.equal(targets_a, targets_b)
    b.set_epoch(3, mosaic_on=False)
    assert not torch.equal(b[3][0], image_a)


def test_letterbox_is_the_runtime_one():
    from edge_moe.runtime.preprocess import letterbox as runtime_letterbox

    image = np.random.default_rng(0).integers(0, 255, (97, 181, 3), dtype=np.uint8)  # shrinks by a non-integer factor
    out, ratio, (px, py) = letterbox(image, 64)
    canvas, box = runtime_letterbox(image, 64, 64)
    assert np.array_equal(out, canvas) and (ratio, px, py) == (box.scale, box.pad_x, box.pad_y)


def test_closed_colour_jitter_leaves_the_colours_as_validation_sees_them():
    source = generate(parse_synthetic("synthetic:n=4,imgsz=64"), "train")
    geometry_only = AugmentConfig(flip_lr=0.0, translate=0.0, scale=0.0, mosaic=0.0)
    dataset = TrainDataset(source, 64, geometry_only, seed=1)
    plain = _to_chw_rgb(letterbox(source.get(2).image, 64)[0])
    dataset.set_epoch(0, mosaic_on=False)
    assert not torch.equal(dataset[2][0], plain)  # the HSV jitter changed the colours
    dataset.set_epoch(0, mosaic_on=False, hsv_on=False)
    assert torch.equal(dataset[2][0], plain)
