import pytest
import yaml

from edge_moe.data import load_data
from edge_moe.errors import UserError
from tests.data.conftest import make_yolo_set


def test_loads_images_and_labels(yolo_set):
    data = load_data(str(yolo_set))
    assert data.names == ["a", "b", "c"]
    sample = data.split("train").get(0)
    assert sample.image.shape == (48, 64, 3)
    assert sample.boxes.tolist() == [[24.0, 18.0, 40.0, 30.0]]


def test_images_without_labels_are_allowed(yolo_set):
    (yolo_set.parent / "labels" / "val" / "1.txt").unlink()
    assert len(load_data(str(yolo_set)).split("val").labels[1]) == 0


def test_names_as_mapping(tmp_path):
    path = make_yolo_set(tmp_path)
    path.write_text(yaml.safe_dump({"train": "images/train", "val": "images/val", "names": {0: "x", 1: "y"}}))
    assert load_data(str(path)).names == ["x", "y"]


@pytest.mark.parametrize(
    "content, message",
    [
        ({"train": "images/train", "names": ["a"]}, r"data.yaml: missing key\(s\) val \(expected path, train, val, names\)"),
        ({"val": "images/val"}, r"data.yaml: missing key\(s\) train, names"),
        ({"train": "images/nope", "val": "images/val", "names": ["a"]}, r"data.yaml: train path .*images/nope does not exist"),
        ({"path": "elsewhere", "train": "images/train", "val": "images/val", "names": ["a"]}, r"data.yaml: path .*elsewhere is not a directory"),
        ({"train": "images/train", "val": "images/val", "names": []}, r"data.yaml: missing key\(s\) names|names must be a non-empty list"),
    ],
)
def test_bad_data_yaml(tmp_path, content, message):
    path = make_yolo_set(tmp_path)
    path.write_text(yaml.safe_dump(content))
    with pytest.raises(UserError, match=message):
        load_data(str(path))


def test_empty_split(tmp_path):
    path = make_yolo_set(tmp_path)
    for image in (tmp_path / "images" / "val").iterdir():
        image.unlink()
    with pytest.raises(UserError, match=r"data.yaml: val split .*images/val has no images"):
        load_data(str(path))


def test_four_column_row(tmp_path):
    path = make_yolo_set(tmp_path, rows="0 0.5 0.5 0.2\n")
    with pytest.raises(UserError, match=r"labels/train/0.txt:1: expected 5 columns"):
        load_data(str(path))


def test_class_17_in_a_3_class_set(tmp_path):
    path = make_yolo_set(tmp_path, rows="0 0.5 0.5 0.2 0.2\n17 0.5 0.5 0.2 0.2\n")
    with pytest.raises(UserError, match=r"labels/train/0.txt:2: class id 17 out of range, expected an integer in \[0, 2\] \(3 classes"):
        load_data(str(path))


def test_corrupt_jpeg_is_reported_by_path(tmp_path):
    path = make_yolo_set(tmp_path)
    bad = tmp_path / "images" / "train" / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    with pytest.raises(UserError, match=r"images/train/broken.jpg: unreadable image"):
        load_data(str(path))


def test_invalid_yaml_and_unknown_spec(tmp_path):
    path = tmp_path / "data.yaml"
    path.write_text("train: [unclosed\n")
    with pytest.raises(UserError, match=r"data.yaml:\d+: not valid YAML"):
        load_data(str(path))
    with pytest.raises(UserError, match="expected 'synthetic"):
        load_data(str(tmp_path / "nothing"))


def test_splits_as_lists_of_folders(tmp_path):
    """The Ultralytics convention: ``train: [images/train, images/extra]``."""
    path = make_yolo_set(tmp_path)
    extra = tmp_path / "images" / "extra"
    (tmp_path / "labels" / "extra").mkdir()
    extra.mkdir()
    for image in (tmp_path / "images" / "train").iterdir():
        (extra / image.name).write_bytes(image.read_bytes())
        (tmp_path / "labels" / "extra" / f"{image.stem}.txt").write_text("1 0.5 0.5 0.5 0.5\n")
    path.write_text(yaml.safe_dump({"train": ["images/train", "images/extra"], "val": ["images/val"], "names": ["a", "b"]}))
    data = load_data(str(path))
    train = data.split("train")
    assert len(train) == 4 and len(data.split("val")) == 2
    assert [int(labels.classes[0]) for labels in train.labels] == [0, 0, 1, 1]


@pytest.mark.parametrize("value", [[], ["images/train", 3], {"a": 1}])
def test_bad_split_lists(tmp_path, value):
    path = make_yolo_set(tmp_path)
    path.write_text(yaml.safe_dump({"train": value, "val": "images/val", "names": ["a"]}))
    with pytest.raises(UserError, match="train must be a path or a list of paths"):
        load_data(str(path))
