import numpy as np
import pytest

from edge_moe.data import REGIMES, load_data
from edge_moe.data.digits import TRAIN_DIGITS, _digits, generate_digits, parse_digits
from edge_moe.errors import UserError


def test_seeded_tagged_and_selectable_as_data():
    data = load_data("digits:n=10,val=4,imgsz=96,seed=2")
    again = generate_digits(parse_digits("digits:n=10,val=4,imgsz=96,seed=2"), "train")
    train = data.split("train")
    assert data.names == [str(d) for d in range(10)] and len(train) == 10 and len(data.split("val")) == 4
    assert all(np.array_equal(train.image(i), again.image(i)) for i in range(10))
    assert set(train.regimes) == set(REGIMES)
    other_seed = generate_digits(parse_digits("digits:n=10,val=4,imgsz=96,seed=3"), "train")
    assert not np.array_equal(train.image(0), other_seed.image(0))
    sample = train.get(0)
    assert sample.image.shape == (96, 96, 3) and sample.image.dtype == np.uint8
    assert ((sample.boxes >= 0) & (sample.boxes <= 96)).all() and (sample.classes < 10).all()


def test_regimes_differ_in_count_and_scale():
    source = generate_digits(parse_digits("digits:n=40,imgsz=128"), "train")
    stats = {r: [] for r in REGIMES}
    for labels, regime in zip(source.labels, source.regimes):
        heights = labels.boxes[:, 3] - labels.boxes[:, 1]
        stats[regime].append((len(labels), heights.mean()))
    few, many = np.array(stats["few-large"]), np.array(stats["many-small"])
    assert few[:, 0].max() <= 4 and many[:, 0].min() >= 8
    assert few[:, 1].min() > many[:, 1].max()


def test_boxes_hold_the_ink_of_the_right_digit(monkeypatch):
    """Large digits of one handwriting sample on a flat grey background: the boxes frame the ink, the class is its target."""
    import edge_moe.data.digits as digits

    monkeypatch.setattr(digits, "_background", lambda rng, imgsz: np.full((imgsz, imgsz, 3), 200, np.uint8))
    rng = np.random.default_rng(0)
    image, classes, boxes = digits.render_digit_scene(rng, 128, "few-large", range(TRAIN_DIGITS, TRAIN_DIGITS + 1))
    assert (classes == _digits()[1][TRAIN_DIGITS]).all()
    ink = image.mean(axis=2) < 120
    framed = np.zeros_like(ink)
    for x0, y0, x1, y1 in boxes.astype(int):
        framed[y0:y1, x0:x1] = True
    assert ink.sum() > 100 and ink[framed].sum() > 0.95 * ink.sum()
    assert ink[~framed].sum() < 0.05 * ink.sum() and framed.mean() < 0.9  # boxes are tight, not the whole image


@pytest.mark.parametrize("spec", ["digits:n=0", "digits:classes=3", "digits:dense=2", "digits:imgsz=32", "digit"])
def test_bad_options(spec):
    with pytest.raises(UserError, match="digit"):
        load_data(spec)


def test_written_digits_round_trip_through_data_yaml(tmp_path):
    from edge_moe.data.synthetic import main

    main([str(tmp_path / "set"), "--spec", "digits:n=5,val=2,imgsz=64"])
    data = load_data(str(tmp_path / "set" / "data.yaml"))
    memory = generate_digits(parse_digits("digits:n=5,val=2,imgsz=64"), "train")
    assert data.names == memory.names and len(data.split("train")) == 5 and data.split("train").regimes == memory.regimes
    np.testing.assert_allclose(data.split("train").labels[1].boxes, memory.labels[1].boxes, atol=1e-5)
