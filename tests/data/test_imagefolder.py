"""ImageFolder classification data and the built-in X-ray set: layout, and one-line errors naming the folder or file."""
import cv2
import numpy as np
import pytest

from edge_moe.data.imagefolder import is_image_folder, load_image_folders
from edge_moe.data.xray_builtin import CLASSES, COUNTS, SIZE, write_builtin
from edge_moe.errors import UserError


def make_folder(root, classes=("a", "b"), per_class=2, splits=("train", "val")):
    rng = np.random.default_rng(0)
    for split in splits:
        for name in classes:
            (root / split / name).mkdir(parents=True)
            for i in range(per_class):
                cv2.imwrite(str(root / split / name / f"{i}.png"), rng.integers(0, 255, (40, 50), dtype=np.uint8))
    return root


def test_builtin_set_is_written_atomically(tmp_path):
    root = write_builtin(tmp_path / "xb")
    data = load_image_folders(str(root))
    assert data.names == sorted(CLASSES)
    assert len(data.split("train")) == COUNTS["train"] * len(CLASSES) and len(data.split("val")) == COUNTS["val"] * len(CLASSES)
    image = cv2.imread(str(data.split("val").paths[0]), cv2.IMREAD_UNCHANGED)
    assert image.shape == (SIZE, SIZE) and image.dtype == np.uint8
    assert [p.name for p in tmp_path.iterdir()] == ["xb"]  # no temporary folder left behind
    assert is_image_folder(str(root)) and not is_image_folder("synthetic")


def test_labels_follow_sorted_class_folders(tmp_path):
    data = load_image_folders(str(make_folder(tmp_path, classes=("zebra", "apple"))))
    assert data.names == ["apple", "zebra"]
    assert data.split("train").labels.tolist() == [0, 0, 1, 1]


def test_empty_class_folder(tmp_path):
    make_folder(tmp_path)
    (tmp_path / "train" / "c").mkdir()
    with pytest.raises(UserError, match=r"train/c: empty class folder"):
        load_image_folders(str(tmp_path))


def test_unreadable_image(tmp_path):
    make_folder(tmp_path)
    (tmp_path / "val" / "b" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(UserError, match=r"val/b/broken.png: unreadable image"):
        load_image_folders(str(tmp_path))


def test_different_classes_in_train_and_val(tmp_path):
    make_folder(tmp_path, splits=("train",))
    make_folder(tmp_path, classes=("a", "c"), splits=("val",))
    with pytest.raises(UserError, match=r"class folders differ between train/ \['a', 'b'\] and val/ \['a', 'c'\]"):
        load_image_folders(str(tmp_path))


def test_missing_split_and_no_classes(tmp_path):
    make_folder(tmp_path, splits=("train",))
    with pytest.raises(UserError, match=r"val: split folder not found"):
        load_image_folders(str(tmp_path))
    (tmp_path / "val").mkdir()
    with pytest.raises(UserError, match=r"val: no class folders"):
        load_image_folders(str(tmp_path))
