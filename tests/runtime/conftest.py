"""Real media for the runtime tests: videos encoded by ffmpeg, image folders, loopback servers."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

FPS = 15


def ffmpeg(*args: str) -> None:
    """Runs ffmpeg; skips the test (or fixture) that needs it where it is not installed."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed (apt-get install ffmpeg)")
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True, timeout=120)


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> dict[str, Path]:
    """h264.mp4 (45 frames, 320x240), mjpeg.avi (30 frames, portrait 240x320), truncated.mp4,
    truncated.avi, images/ (odd sizes, gray, one unreadable file), not_video.mp4."""
    root = tmp_path_factory.mktemp("media")
    ffmpeg("-f", "lavfi", "-i", f"testsrc=size=320x240:rate={FPS}", "-frames:v", "45", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           "-movflags", "+faststart", str(root / "h264.mp4"))
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=size=240x320:rate={FPS}", "-frames:v", "30", "-c:v", "mjpeg", str(root / "mjpeg.avi"))
    ffmpeg("-f", "lavfi", "-i", f"testsrc=size=320x240:rate={FPS}", "-frames:v", "150", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           "-g", "10", "-movflags", "+faststart", str(root / "long.mp4"))
    data = (root / "long.mp4").read_bytes()
    (root / "truncated.mp4").write_bytes(data[: len(data) // 2])
    data = (root / "mjpeg.avi").read_bytes()
    (root / "truncated.avi").write_bytes(data[: len(data) // 2])
    (root / "not_video.mp4").write_bytes(b"this is not a video" * 100)
    images = root / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    cv2.imwrite(str(images / "a_landscape.jpg"), rng.integers(0, 255, (120, 333, 3), dtype=np.uint8))
    cv2.imwrite(str(images / "b_portrait.png"), rng.integers(0, 255, (401, 99, 3), dtype=np.uint8))
    cv2.imwrite(str(images / "c_gray.png"), rng.integers(0, 255, (64, 64), dtype=np.uint8))
    (images / "d_broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (images / "notes.txt").write_text("ignored")
    return {p.name: p for p in root.iterdir()}


@pytest.fixture(scope="session")
def bundle(tmp_path_factory) -> Path:
    """A sparse esmoe-pico bundle at 128x128, exported once per session with the real exporter."""
    pytest.importorskip("torch", reason="exporting a bundle needs torch (the runtime-only venv has none)")
    from edge_moe.exporters.export import export_bundle

    return export_bundle("esmoe-pico", tmp_path_factory.mktemp("bundles") / "pico-sparse", imgsz=128, routing="sparse", parity_count=1)


@pytest.fixture(scope="session")
def detector(bundle):
    from edge_moe.runtime import Detector

    return Detector(bundle, conf=0.01)
