import threading
import time

import numpy as np
import pytest

from edge_moe.errors import UserError
from edge_moe.runtime.sources import (ImageSource, PushSource, RetryPolicy, SourceOptions, VideoFileSource, csi_pipeline,
                                      open_source, video_backends)


def indices(source):
    with source:
        return [frame.index for frame in source]


def test_h264_mp4_gives_every_frame_in_order(media):
    source = open_source(str(media["h264.mp4"]))
    assert isinstance(source, VideoFileSource) and not source.live
    assert indices(source) == list(range(45)) and source.error is None


def test_mjpeg_avi_portrait(media):
    with open_source(media["mjpeg.avi"]) as source:
        frames = list(source)
    assert len(frames) == 30 and frames[0].image.shape == (320, 240, 3)


def test_truncated_video_ends_cleanly_and_says_so(media):
    source = open_source(str(media["truncated.mp4"]))
    n = len(indices(source))
    assert 0 < n < 150
    assert "truncated or corrupt" in source.error and f"after {n} of 150" in source.error


def test_truncated_mjpeg_avi_ends_cleanly(media):
    source = open_source(str(media["truncated.avi"]))
    assert 0 < len(indices(source)) < 30


def test_images_directory_skips_unreadable_files_and_keeps_odd_sizes(media):
    source = open_source(str(media["images"]))
    assert isinstance(source, ImageSource)
    with source:
        shapes = [f.image.shape for f in source]
    assert shapes == [(120, 333, 3), (401, 99, 3), (64, 64)]
    assert source.stats() == {"read": 3, "unreadable": 1}


def test_glob_and_single_image(media):
    assert len(indices(open_source(str(media["images"] / "*.png")))) == 2
    assert len(indices(open_source(str(media["images"] / "a_landscape.jpg")))) == 1


@pytest.mark.parametrize("spec, message", [
    ("missing/video.mp4", "no such file or directory"),
    ("ftp://host/x", "unknown source scheme 'ftp'"),
    ("v4l2:///dev/video99", "no such device /dev/video99"),
    ("", "empty --source"),
])
def test_bad_sources_fail_with_one_line(spec, message):
    with pytest.raises(UserError, match=message):
        open_source(spec)


def test_a_file_that_is_not_a_video(media):
    with pytest.raises(UserError, match="cannot decode this video"):
        open_source(str(media["not_video.mp4"]))


def test_empty_directory(tmp_path):
    with pytest.raises(UserError, match="no images found"):
        open_source(str(tmp_path))


@pytest.mark.skipif(video_backends()["gstreamer"], reason="this OpenCV has GStreamer")
def test_csi_explains_missing_gstreamer():
    with pytest.raises(UserError, match="needs OpenCV built with GStreamer.*system OpenCV"):
        open_source("csi://0?width=1920&height=1080&fps=30&flip=2")
    with pytest.raises(UserError, match="unknown csi option"):
        open_source("csi://0?exposure=3")


def test_csi_pipeline_carries_the_camera_settings():
    pipeline = csi_pipeline(1, 1920, 1080, 60, 2)
    assert "nvarguscamerasrc sensor-id=1" in pipeline and "width=1920,height=1080,framerate=60/1" in pipeline
    assert "flip-method=2" in pipeline and pipeline.endswith("appsink drop=true max-buffers=1 sync=false")


def test_absent_camera_retries_then_gives_up_without_hanging():
    started = time.monotonic()
    with pytest.raises(UserError, match="camera 9: cannot open .*gave up"):
        open_source(9, SourceOptions(retry=RetryPolicy(retry_for_s=0.6, first_delay_s=0.1)))
    assert time.monotonic() - started < 10


def test_push_source_keeps_the_newest_frame_and_counts_drops():
    feed = PushSource()
    for i in range(5):
        feed.push(np.full((4, 4, 3), i, np.uint8))
    frame = feed.read(timeout=1)
    assert frame.index == 4 and frame.image[0, 0, 0] == 4 and feed.stats()["dropped"] == 4
    assert feed.read(timeout=0.05) is None  # nothing new yet, not the end
    threading.Timer(0.1, feed.close).start()
    assert feed.read() is None  # closed from another thread: the end
