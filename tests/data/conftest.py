from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml


def make_yolo_set(root: Path, names=("a", "b", "c"), rows=None, images=2) -> Path:
    """A tiny YOLO data set with ``images`` PNGs per split; ``rows`` overrides the first label file."""
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for i in range(images):
            cv2.imwrite(str(root / "images" / split / f"{i}.png"), np.full((48, 64, 3), 40 * i, np.uint8))
            (root / "labels" / split / f"{i}.txt").write_text("0 0.5 0.5 0.25 0.25\n")
    if rows is not None:
        (root / "labels" / "train" / "0.txt").write_text(rows)
    data = root / "data.yaml"
    data.write_text(yaml.safe_dump({"path": ".", "train": "images/train", "val": "images/val", "names": list(names)}))
    return data


@pytest.fixture
def yolo_set(tmp_path):
    return make_yolo_set(tmp_path)
