"""Live network streams on loopback: a real RTSP server fed by ffmpeg, an HTTP MJPEG server,
streams that die mid-run and come back (reconnect) or do not (clean end)."""
import json
import threading
import time

import pytest

from edge_moe.cli import main
from edge_moe.runtime import RetryPolicy, SourceOptions, open_source
from tests.runtime.servers import MjpegServer, RtspServer

pytestmark = pytest.mark.network

FAST = SourceOptions(open_timeout_s=5, read_timeout_s=1.5, retry=RetryPolicy(retry_for_s=15, first_delay_s=0.2, max_delay_s=1.0),
                     rtsp_transport="udp")


@pytest.fixture
def rtsp():
    missing = RtspServer.missing()
    if missing:
        pytest.skip(missing)
    server = RtspServer()
    server.publish()
    yield server
    server.close()


@pytest.fixture
def mjpeg():
    server = MjpegServer(fps=30)
    yield server
    server.close()


def test_edge_moe_run_on_rtsp_prints_fps_and_expert_usage(bundle, rtsp, tmp_path, capsys):
    log = tmp_path / "rtsp.jsonl"
    code = main(["run", "--model", str(bundle), "--source", rtsp.url, "--rtsp-transport", "udp", "--max-frames", "20",
                 "--log", str(log), "--quiet"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "frames 20" in printed and "end-to-end FPS" in printed and "routing sparse" in printed
    for layer in ("p2", "p3", "p4", "p5"):
        assert f"backbone.moe.{layer}" in printed
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(records) == 20 and list(records[0]) == ["frame", "timestamp", "latency_ms", "fps", "detections", "experts"]
    assert records[-1]["fps"] > 0 and all(len(r["experts"]) == 4 for r in records)


def test_http_mjpeg_live_source_keeps_the_newest_frame(detector, mjpeg):
    stream = detector.stream(mjpeg.url, FAST, max_frames=15)
    results = []
    for result in stream:
        results.append(result)
        time.sleep(0.1)  # a slow consumer: the 30 fps stream must not queue up behind it
    indices = [r.frame_index for r in results]
    assert len(results) == 15 and indices == sorted(indices)
    assert stream.summary()["source"]["dropped"] > 0 and indices[-1] - indices[0] > 20


@pytest.mark.slow
def test_rtsp_stream_killed_and_restarted_reconnects(rtsp):
    source = open_source(rtsp.url, FAST)
    try:
        assert source.read(timeout=10) is not None
        rtsp.close()  # the camera dies

        def reboot():
            rtsp.start()
            rtsp.publish()

        threading.Timer(2.0, reboot).start()  # and comes back on the same address
        deadline = time.monotonic() + 30
        while source.stats()["reconnects"] == 0 and time.monotonic() < deadline:
            source.read(timeout=1)
        assert source.stats()["reconnects"] == 1
        before = source.stats()["read"]
        assert source.read(timeout=10) is not None and source.stats()["read"] > before
    finally:
        source.close()


def test_http_stream_that_dies_ends_the_run_cleanly(detector, mjpeg):
    options = SourceOptions(open_timeout_s=2, read_timeout_s=1, retry=RetryPolicy(retry_for_s=1.0, first_delay_s=0.2))
    stream = detector.stream(mjpeg.url, options)
    started = time.monotonic()
    count = 0
    for _ in stream:
        count += 1
        if count == 5:
            mjpeg.close()  # the server goes away for good
    summary = stream.summary()
    assert count >= 5 and summary["frames"] == count
    assert "cannot reconnect" in summary["error"] and time.monotonic() - started < 30


@pytest.mark.slow
def test_ctrl_c_ends_a_live_run_cleanly(bundle, mjpeg, tmp_path):
    import signal
    import subprocess
    import sys

    log = tmp_path / "live.jsonl"
    process = subprocess.Popen([sys.executable, "-m", "edge_moe.cli", "run", "--model", str(bundle), "--source", mjpeg.url,
                                "--log", str(log), "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".live.partial*")) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2.0)  # frames flowing
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "end-to-end FPS" in out
    frames = int(out.split("frames ", 1)[1].split()[0])
    assert frames > 0 and len(log.read_text().splitlines()) == frames
