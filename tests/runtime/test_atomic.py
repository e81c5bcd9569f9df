import os

import pytest

from edge_moe.errors import UserError
from edge_moe.runtime.report import write_json
from edge_moe.runtime.sinks import JsonlSink, VideoSink
from edge_moe.runtime.sinks.atomic import atomic_write, commit, discard, temp_path_for


def test_temp_names_are_unique_beside_the_target_and_keep_the_suffix(tmp_path):
    target = tmp_path / "sub" / "out.mp4"
    first, second = temp_path_for(target), temp_path_for(target)  # two runs writing the same output
    assert first != second and first.parent == second.parent == target.parent
    assert first.name.startswith(".out.partial") and first.suffix == ".mp4" and first.exists()
    first.write_text("one")
    second.write_text("two")
    commit(first, target)
    assert target.read_text() == "one" and second.read_text() == "two"
    discard(second)
    discard(second)  # already gone: no error
    assert [p.name for p in target.parent.iterdir()] == ["out.mp4"]


def test_committed_files_get_the_usual_permissions(tmp_path):
    path = atomic_write(tmp_path / "a.txt", lambda tmp: tmp.write_text("x"))
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_a_failed_write_leaves_nothing_behind(tmp_path):
    (tmp_path / "a.txt").write_text("old")

    def write(tmp):
        tmp.write_text("half")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        atomic_write(tmp_path / "a.txt", write)
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"] and (tmp_path / "a.txt").read_text() == "old"


def test_an_oserror_while_writing_is_a_user_error_naming_the_path(tmp_path):
    def write(tmp):
        raise OSError(28, "No space left on device")

    with pytest.raises(UserError, match=r"a\.bin: cannot write \(No space left on device\)"):
        atomic_write(tmp_path / "a.bin", write)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["parent_is_a_file", "target_is_a_folder"])
def test_write_json_to_an_unwritable_path_is_one_line(tmp_path, where):
    if where == "parent_is_a_file":
        (tmp_path / "file").write_text("")
        path = tmp_path / "file" / "summary.json"
    else:
        path = tmp_path / "summary.json"
        path.mkdir()
    with pytest.raises(UserError) as info:
        write_json(path, {"frames": 1})
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    assert not [p for p in tmp_path.rglob("*partial*")]  # no temporary file left behind


def test_videos_writing_the_same_output_do_not_share_a_temp_file(tmp_path):
    import numpy as np

    first, second = VideoSink(tmp_path / "a.avi", 10), VideoSink(tmp_path / "a.avi", 10)
    assert first.temp != second.temp
    first.write(np.zeros((32, 32, 3), np.uint8))
    second.write(np.zeros((48, 48, 3), np.uint8))
    first.close()
    second.close()
    assert [p.name for p in tmp_path.iterdir()] == ["a.avi"]


def test_the_jsonl_is_live_at_its_final_path(tmp_path, detector):
    """Each frame is flushed as it is written, so `tail -f` follows a run and a killed run keeps its frames."""
    import numpy as np

    sink = JsonlSink(tmp_path / "f.jsonl")
    for _ in range(3):
        sink.write(detector(np.zeros((64, 64, 3), np.uint8)))
        assert len((tmp_path / "f.jsonl").read_text().splitlines()) == sink.count  # before close
    sink.close()
    assert [p.name for p in tmp_path.iterdir()] == ["f.jsonl"]
