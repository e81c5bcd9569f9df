"""The samples answer like the CLI: a bad input is one line and a non-zero exit; --help works without ROS 2."""
import subprocess
import sys
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def sample(name: str, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SAMPLES / name), *argv], capture_output=True, text=True, timeout=120)


def test_drone_feed_with_a_missing_video_fails_in_one_line(tmp_path):
    done = sample("drone_push_feed.py", "--model", str(tmp_path), "--video", str(tmp_path / "missing.mp4"))
    assert done.returncode == 2 and "missing.mp4: cannot open this video" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "frames 0" not in done.stdout


def test_ros2_node_help_without_rclpy():
    pytest.importorskip("cv2")
    try:
        import rclpy  # noqa: F401
        pytest.skip("rclpy is installed here")
    except ImportError:
        pass
    done = sample("ros2_node.py", "--help")
    assert done.returncode == 0 and "--ros-args" in done.stdout and done.stderr == ""
    done = sample("ros2_node.py")
    assert done.returncode == 2 and "needs ROS 2 (rclpy" in done.stderr and "Traceback" not in done.stderr
