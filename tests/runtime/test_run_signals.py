"""SIGTERM (systemd, docker, ROS launch, `timeout`) stops `edge-moe run` like Ctrl-C: a real process, a real signal."""
import json
import signal
import subprocess
import sys
import time

import cv2
import pytest

from tests.runtime.conftest import ffmpeg


@pytest.fixture(scope="module")
def long_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("long") / "long.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120:rate=15", "-frames:v", "3000", "-c:v", "libx264", "-preset", "ultrafast",
           "-pix_fmt", "yuv420p", str(path))
    return path


def test_sigterm_keeps_every_finished_output(bundle, long_video, tmp_path):
    log, video, summary = tmp_path / "frames.jsonl", tmp_path / "a.mp4", tmp_path / "s.json"
    process = subprocess.Popen([sys.executable, "-m", "edge_moe", "run", "--model", str(bundle), "--source", str(long_video),
                                "--log", str(log), "--save", str(video), "--summary-json", str(summary), "--quiet"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:  # the JSONL is live: frames appear as they finish
        if log.exists() and len(log.read_text().splitlines()) >= 5:
            break
        time.sleep(0.05)
    assert process.poll() is None, process.communicate()
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    frames = json.loads(summary.read_text())["frames"]
    assert 5 <= frames < 3000 and f"frames {frames}" in out and "SIGTERM" in err and "Traceback" not in err
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(frames))
    capture = cv2.VideoCapture(str(video))  # the MP4 was finalised: it opens and decodes to the end
    decoded = 0
    while capture.read()[0]:
        decoded += 1
    assert decoded == frames
    assert not list(tmp_path.glob(".*"))  # no hidden temporary files left
