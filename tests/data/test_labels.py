import numpy as np
import pytest

from edge_moe.data.labels import format_label_rows, parse_label_file
from edge_moe.errors import UserError


def write(tmp_path, text):
    path = tmp_path / "img.txt"
    path.write_text(text)
    return path


def test_valid_rows_become_normalised_xyxy(tmp_path):
    labels = parse_label_file(write(tmp_path, "0 0.5 0.5 0.2 0.4\n\n2 0.1 0.1 0.2 0.2\n"), 3)
    assert labels.classes.tolist() == [0, 2]
    np.testing.assert_allclose(labels.boxes[0], [0.4, 0.3, 0.6, 0.7], atol=1e-6)
    np.testing.assert_allclose(labels.boxes[1], [0.0, 0.0, 0.2, 0.2], atol=1e-6)


def test_missing_label_file_means_no_objects(tmp_path):
    assert len(parse_label_file(tmp_path / "none.txt", 3)) == 0


def test_round_trip(tmp_path):
    labels = parse_label_file(write(tmp_path, "1 0.5 0.5 0.2 0.4\n"), 3)
    again = parse_label_file(write(tmp_path, format_label_rows(labels.classes, labels.boxes)), 3)
    np.testing.assert_allclose(again.boxes, labels.boxes, atol=1e-6)


@pytest.mark.parametrize(
    "text, message",
    [
        ("0 0.5 0.5 0.2\n", r"img.txt:1: expected 5 columns 'class cx cy w h', got 4"),
        ("0 0.5 0.5 0.2 0.2\n17 0.5 0.5 0.1 0.1\n", r"img.txt:2: class id 17 out of range, expected an integer in \[0, 2\]"),
        ("1.5 0.5 0.5 0.1 0.1\n", r"img.txt:1: class id 1.5 out of range"),
        ("0 1.5 0.5 0.2 0.2\n", r"img.txt:1: coordinates must be normalised to \[0, 1\], got 1.5 0.5 0.2 0.2"),
        ("0 0.5 0.5 0 0.2\n", r"img.txt:1: box width and height must be > 0"),
        ("0 0.95 0.5 0.2 0.2\n", r"img.txt:1: box extends outside the image"),
        ("a b c d e\n", r"img.txt:1: expected numbers"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path, text, message):
    with pytest.raises(UserError, match=message):
        parse_label_file(write(tmp_path, text), 3)
