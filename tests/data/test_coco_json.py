import json

import cv2
import numpy as np
import pytest

from edge_moe.data import load_data
from edge_moe.errors import UserError


def coco_set(tmp_path, annotations=None):
    (tmp_path / "images").mkdir()
    images = []
    for i in range(10):
        cv2.imwrite(str(tmp_path / "images" / f"{i}.jpg"), np.full((50, 100, 3), 20 * i, np.uint8))
        images.append({"id": i + 1, "file_name": f"{i}.jpg", "width": 100, "height": 50})
    anns = annotations if annotations is not None else [
        {"id": 1, "image_id": 1, "category_id": 7, "bbox": [10, 5, 20, 10], "iscrowd": 0},
        {"id": 2, "image_id": 1, "category_id": 3, "bbox": [0, 0, 100, 50], "iscrowd": 1},
    ]
    data = {"images": images, "annotations": anns, "categories": [{"id": 3, "name": "car"}, {"id": 7, "name": "person"}]}
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(data))
    return path


def test_coco_json_maps_categories_and_skips_crowd(tmp_path):
    data = load_data(str(coco_set(tmp_path)))
    assert data.names == ["car", "person"]
    assert len(data.split("train")) == 9 and len(data.split("val")) == 1
    sample = data.split("train").get(0)
    assert sample.classes.tolist() == [1]
    np.testing.assert_allclose(sample.boxes, [[10, 5, 30, 15]], atol=1e-4)


def test_val_only_uses_every_image(tmp_path):
    assert len(load_data(str(coco_set(tmp_path)), splits=("val",)).split("val")) == 10


@pytest.mark.parametrize(
    "ann, message",
    [
        ({"id": 5, "image_id": 99, "category_id": 3, "bbox": [0, 0, 1, 1]}, r"annotations\[0\] \(id 5\): image_id 99 is not in images"),
        ({"id": 5, "image_id": 1, "category_id": 4, "bbox": [0, 0, 1, 1]}, r"category_id 4 is not in categories \[3, 7\]"),
        ({"id": 5, "image_id": 1, "category_id": 3, "bbox": [0, 0, 1]}, r"bbox must be 4 numbers"),
        ({"id": 5, "image_id": 1, "category_id": 3, "bbox": [90, 0, 50, 10]}, r"bbox \[90, 0, 50, 10\] is outside image 100x50"),
    ],
)
def test_bad_annotations(tmp_path, ann, message):
    with pytest.raises(UserError, match=message):
        load_data(str(coco_set(tmp_path, [ann])))


def test_missing_lists(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"images": []}))
    with pytest.raises(UserError, match=r"x.json: missing COCO list\(s\) annotations, categories"):
        load_data(str(path))
