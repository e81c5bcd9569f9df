"""Several sources on one model: the CLI with two encoded videos, a dying and a silent source beside a file, bad input."""
import json
import time

import cv2
import pytest

from edge_moe.cli import main
from edge_moe.runtime import PushSource, RetryPolicy, SourceOptions
from tests.runtime.servers import MjpegServer


def test_two_videos_are_processed_completely_with_per_source_outputs(bundle, media, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["run", "--model", str(bundle), "--source", str(media["h264.mp4"]), "--source", str(media["mjpeg.avi"]),
                 "--conf", "0.02", "--quiet", "--log", str(out / "f.jsonl"), "--save", f"{out}/", "--plot", str(out / "e.png"),
                 "--summary-json", str(out / "s.json")])
    printed = capsys.readouterr().out
    assert code == 0
    assert "== h264" in printed and "== mjpeg" in printed and "== total over 2 sources" in printed
    records = [json.loads(line) for line in (out / "f.jsonl").read_text().splitlines()]
    by_source = {name: [r["frame"] for r in records if r["source"] == name] for name in ("h264", "mjpeg")}
    assert by_source == {"h264": list(range(45)), "mjpeg": list(range(30))}  # every frame of each, in order, all named
    for name, frames, width in (("h264", 45, 320), ("mjpeg", 30, 240)):
        video = cv2.VideoCapture(str(out / f"{name}.mp4"))
        assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == frames and video.get(cv2.CAP_PROP_FRAME_WIDTH) == width
        assert (out / f"e-{name}.png").read_bytes()[:4] == b"\x89PNG"
    summary = json.loads((out / "s.json").read_text())
    assert summary["total"]["frames"] == 75 and summary["sources"]["mjpeg"]["frames"] == 30
    assert set(summary["sources"]["h264"]["latency_ms"]) == {"capture", "preprocess", "inference", "postprocess", "total"}
    assert summary["sources"]["h264"]["experts"].keys() == summary["total"]["experts"].keys()


@pytest.mark.parametrize("extra, message", [
    (["--source", "{h264}"], "--source {h264}: names the same file as --source {h264} (give each source once)"),
    (["--source", "{mjpeg}", "--save", "{out}/one.mp4"], "--save {out}/one.mp4: 2 sources write one annotated video each; give a folder"),
])
def test_bad_multi_source_input_is_one_line(bundle, media, tmp_path, capsys, extra, message):
    values = {"h264": media["h264.mp4"], "mjpeg": media["mjpeg.avi"], "out": tmp_path / "out"}
    args = ["run", "--model", str(bundle), "--source", str(media["h264.mp4"]), *[a.format(**values) for a in extra]]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"edge-moe run: error: {message.format(**values)}") and "\n" not in err
    assert not (tmp_path / "out").exists()  # nothing written


@pytest.mark.network
def test_a_dying_and_a_silent_source_never_stall_a_file(detector, media):
    server = MjpegServer(fps=30)
    silent = PushSource("silent camera")
    options = SourceOptions(open_timeout_s=2, read_timeout_s=1, retry=RetryPolicy(retry_for_s=1.0, first_delay_s=0.2))
    multi = detector.stream([server.url, str(media["h264.mp4"]), silent], options)
    counts = {name: 0 for name in multi.names}
    started = time.monotonic()
    try:
        for result in multi:
            counts[result.source] += 1
            if result.source == multi.names[0] and counts[result.source] == 5:
                server.close()  # the network camera goes away for good
            if counts["h264"] == 45:
                silent.close()  # the file is done; the silent camera is unplugged
    finally:
        server.close()
    summary = multi.summary()
    assert multi.names[0].startswith("127.0.0.1_") and multi.names[0].endswith("stream.mjpg") and multi.names[1:] == ["h264", "silent_camera"]
    assert counts["h264"] == 45 and counts["silent_camera"] == 0 and counts[multi.names[0]] >= 5
    assert "cannot reconnect" in summary["sources"][multi.names[0]]["error"]
    assert summary["total"]["frames"] == sum(counts.values()) and time.monotonic() - started < 30
