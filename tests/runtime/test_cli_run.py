import json

import cv2
import pytest

from edge_moe.cli import main

JSONL_KEYS = ["frame", "timestamp", "latency_ms", "fps", "detections", "experts"]


def test_run_over_a_video_writes_every_output(bundle, media, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["run", "--model", str(bundle), "--source", str(media["mjpeg.avi"]), "--conf", "0.02", "--quiet",
                 "--log", str(out / "f.jsonl"), "--save", str(out / "a.mp4"), "--plot", str(out / "e.png"),
                 "--summary-json", str(out / "s.json")])
    printed = capsys.readouterr().out
    assert code == 0
    assert "end-to-end FPS" in printed and "inference-only FPS" in printed and "backbone.moe.p5" in printed and "p95" in printed
    records = [json.loads(line) for line in (out / "f.jsonl").read_text().splitlines()]
    assert len(records) == 30 and list(records[0]) == JSONL_KEYS
    assert set(records[0]["latency_ms"]) == {"capture", "preprocess", "inference", "postprocess", "total"}
    assert list(records[0]["experts"][0]) == ["layer", "ids", "weights"] and len(records[0]["experts"]) == 4
    if records[0]["detections"]:
        assert list(records[0]["detections"][0]) == ["xyxy", "score", "class_id", "class_name"]
    video = cv2.VideoCapture(str(out / "a.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 30 and video.get(cv2.CAP_PROP_FRAME_WIDTH) == 240
    assert video.get(cv2.CAP_PROP_FRAME_HEIGHT) == 320  # the source size: the expert strip is drawn over the frame
    assert (out / "e.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "s.json").read_text())["frames"] == 30
    assert not list(out.glob(".*partial*"))  # no temporary files left behind


@pytest.mark.parametrize("args, message", [
    (["--source", "missing.mp4"], "missing.mp4: no such file or directory"),
    (["--source", "0", "--retry-for", "0"], "camera 0: cannot open"),
    (["--source", "x.mp4", "--conf", "2"], "argument --conf: must be in [0, 1], got 2"),
])
def test_user_errors_are_one_line_without_traceback(bundle, args, message, capsys):
    code = main(["run", "--model", str(bundle), *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err


def test_invalid_bundle_is_a_user_error(tmp_path, media, capsys):
    (tmp_path / "manifest.json").write_text("{not json")
    assert main(["run", "--model", str(tmp_path), "--source", str(media["h264.mp4"])]) == 2
    assert "invalid JSON" in capsys.readouterr().err


def test_show_without_a_display_explains(bundle, media, monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["run", "--model", str(bundle), "--source", str(media["h264.mp4"]), "--show"]) == 2
    assert "--show needs a display" in capsys.readouterr().err
