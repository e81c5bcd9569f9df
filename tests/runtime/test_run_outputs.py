"""`edge-moe run` outputs: never the source, a bundle file or another output; checked before the first frame;
image sources get a "source" per JSONL record, counted skips, annotated images, --max-det and --classes."""
import json
import shutil

import cv2
import pytest

from edge_moe.cli import main


@pytest.fixture
def clip(media, tmp_path):
    path = tmp_path / "v.mp4"
    shutil.copy(media["h264.mp4"], path)
    return path


@pytest.mark.parametrize("option, target", [("--save", "source"), ("--log", "source"), ("--log", "manifest"),
                                            ("--summary-json", "manifest"), ("--plot", "inside-bundle")])
def test_an_output_never_replaces_an_input(bundle, clip, option, target, capsys):
    before = {p: p.read_bytes() for p in [clip, *bundle.iterdir()] if p.is_file()}
    path = {"source": clip, "manifest": bundle / "manifest.json", "inside-bundle": bundle / "experts.png"}[target]
    code = main(["run", "--model", str(bundle), "--source", str(clip), option, str(path), "--max-frames", "3", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "refusing" in err, err
    assert {p: p.read_bytes() for p in before} == before
    assert not (bundle / "experts.png").exists()


def test_two_outputs_of_one_run_cannot_share_a_path(bundle, clip, tmp_path, capsys):
    out = tmp_path / "same.json"
    assert main(["run", "--model", str(bundle), "--source", str(clip), "--log", str(out), "--summary-json", str(out), "--quiet"]) == 2
    assert "name the same file" in capsys.readouterr().err and not out.exists()


@pytest.mark.parametrize("option", ["--plot", "--summary-json", "--log", "--save"])
def test_unwritable_outputs_fail_before_the_first_frame(bundle, clip, tmp_path, option, capsys):
    log = tmp_path / "f.jsonl"
    unwritable = "/proc/edge-moe/x.png" if option != "--save" else "/proc/edge-moe/x.mp4"
    args = ["run", "--model", str(bundle), "--source", str(clip), option, unwritable, "--quiet"]
    if option != "--log":
        args += ["--log", str(log)]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert "/proc/edge-moe" in captured.err and "frames" not in captured.out  # no frame was processed
    assert not log.exists() or log.read_text() == ""


def test_image_sources_name_each_frame_and_count_skips(bundle, media, tmp_path, capsys):
    log, save = tmp_path / "f.jsonl", tmp_path / "annotated"
    code = main(["run", "--model", str(bundle), "--source", str(media["images"]), "--log", str(log), "--save", f"{save}/",
                 "--conf", "0.01", "--quiet"])
    printed = capsys.readouterr().out
    assert code == 0
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["source"].rsplit("/", 1)[-1] for r in records] == ["a_landscape.jpg", "b_portrait.png", "c_gray.png"]
    assert [r["frame"] for r in records] == [0, 1, 2]
    assert "unreadable=1" in printed and "read=3" in printed
    written = sorted(p.name for p in save.iterdir())
    assert written == ["a_landscape.jpg", "b_portrait.png", "c_gray.png"]
    assert cv2.imread(str(save / "b_portrait.png")).shape[:2] == (401, 99)  # the source size, strip drawn over it


def test_a_broken_image_leaves_a_gap_not_a_renumbering(bundle, media, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for source, name in (("a_landscape.jpg", "1.jpg"), ("d_broken.jpg", "2.jpg"), ("b_portrait.png", "3.png")):
        shutil.copy(media["images"] / source, folder / name)
    log = tmp_path / "f.jsonl"
    assert main(["run", "--model", str(bundle), "--source", str(folder), "--log", str(log), "--quiet"]) == 0
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["frame"], r["source"]) for r in records] == [(0, str(folder / "1.jpg")), (2, str(folder / "3.png"))]


def test_max_det_and_classes(bundle, clip, tmp_path, capsys):
    log = tmp_path / "f.jsonl"
    base = ["run", "--model", str(bundle), "--source", str(clip), "--conf", "0.001", "--max-frames", "5", "--log", str(log), "--quiet"]
    assert main([*base, "--max-det", "2"]) == 0
    counts = [len(json.loads(line)["detections"]) for line in log.read_text().splitlines()]
    assert max(counts) == 2
    assert main([*base, "--classes", "class1"]) == 0
    classes = {d["class_id"] for line in log.read_text().splitlines() for d in json.loads(line)["detections"]}
    assert classes == {1}
    capsys.readouterr()
    assert main([*base, "--classes", "0,dog"]) == 2
    assert "--classes dog:" in capsys.readouterr().err


@pytest.mark.parametrize("content", [b"", b"this is text, not a video\n"])
def test_a_broken_video_is_one_line_without_ffmpeg_noise(bundle, tmp_path, content):
    import subprocess
    import sys

    video = tmp_path / "clip.mp4"
    video.write_bytes(content)
    done = subprocess.run([sys.executable, "-m", "edge_moe", "run", "--model", str(bundle), "--source", str(video), "--quiet"],
                          capture_output=True, text=True, timeout=120)
    errors = [line for line in done.stderr.splitlines() if "backend auto" not in line]
    assert done.returncode == 2 and len(errors) == 1 and errors[0].startswith("edge-moe run: error: ") and "clip.mp4" in errors[0], done.stderr


def test_a_missing_camera_is_one_line_without_opencv_noise(bundle):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "edge_moe", "run", "--model", str(bundle), "--source", "7", "--retry-for", "0",
                           "--quiet"], capture_output=True, text=True, timeout=120)
    errors = [line for line in done.stderr.splitlines() if "backend auto" not in line]
    assert done.returncode == 2 and len(errors) == 1 and errors[0].startswith("edge-moe run: error: camera 7: cannot open"), done.stderr


def test_save_into_a_folder_writes_a_video_for_a_video_source(bundle, clip, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", "--model", str(bundle), "--source", str(clip), "--save", f"{out}/", "--max-frames", "4", "--quiet"]) == 0
    assert f"video    {out / 'v.mp4'}" in capsys.readouterr().out
    capture = cv2.VideoCapture(str(out / "v.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 4 and capture.get(cv2.CAP_PROP_FRAME_WIDTH) == 320
