import numpy as np
import pytest

from edge_moe.data import REGIMES, generate, load_data, parse_synthetic, render_frames, write_yolo
from edge_moe.errors import UserError


def test_seeded_and_tagged():
    spec = parse_synthetic("synthetic:n=12,val=4,imgsz=96,classes=4,seed=3")
    a, b = generate(spec, "train"), generate(spec, "train")
    assert all(np.array_equal(a.image(i), b.image(i)) for i in range(len(a)))
    assert set(a.regimes) == set(REGIMES)
    assert a.names == ["circle", "square", "triangle", "cross"]
    val = generate(spec, "val")
    assert not np.array_equal(a.image(0), val.image(0))
    sample = a.get(0)
    assert sample.image.shape == (96, 96, 3) and sample.image.dtype == np.uint8
    assert ((sample.boxes >= 0) & (sample.boxes <= 96)).all() and (sample.classes < 4).all()


def test_regimes_differ_in_count_and_scale():
    source = generate(parse_synthetic("synthetic:n=40,imgsz=128"), "train")
    stats = {r: [] for r in REGIMES}
    for labels, regime in zip(source.labels, source.regimes):
        sides = np.sqrt((labels.boxes[:, 2] - labels.boxes[:, 0]) * (labels.boxes[:, 3] - labels.boxes[:, 1]))
        stats[regime].append((len(labels), sides.mean()))
    few, many = np.array(stats["few-large"]), np.array(stats["many-small"])
    assert few[:, 0].max() <= 4 and many[:, 0].min() >= 8
    assert few[:, 1].min() > many[:, 1].max()


def test_written_set_round_trips_through_data_yaml(tmp_path):
    spec = parse_synthetic("synthetic:n=6,val=3,imgsz=64")
    yaml_path = write_yolo(spec, tmp_path / "set")
    data = load_data(str(yaml_path))
    memory = generate(spec, "train")
    assert data.names == spec.names and len(data.split("train")) == 6
    assert data.split("train").regimes == memory.regimes
    np.testing.assert_allclose(data.split("train").labels[2].boxes, memory.labels[2].boxes, atol=1e-5)


def test_demo_frames_are_held_out():
    frames = render_frames(3, imgsz=64)
    val = generate(parse_synthetic("synthetic:imgsz=64,val=3"), "val")
    assert len(frames) == 3 and frames[0].shape == (64, 64, 3) and frames[0].dtype == np.uint8
    assert not any(np.array_equal(frames[0], val.image(i)) for i in range(3))


@pytest.mark.parametrize("spec", ["synthetic:n=0", "synthetic:classes=9", "synthetic:bogus=1", "synthetic:n=abc", "synthetic:imgsz"])
def test_bad_options(spec):
    with pytest.raises(UserError, match="synthetic"):
        parse_synthetic(spec)
