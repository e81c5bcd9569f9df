"""`make test` on a machine without ffmpeg or an RTSP server: it installs them when it can, otherwise it says so
before the run, and the end of the run lists what was skipped and why."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_system_deps_reports_what_is_missing(tmp_path):
    bin_dir = tmp_path / "bin"  # a PATH with neither ffmpeg nor rtsp-server-perl
    bin_dir.mkdir()
    for program in ("id", "sudo", "apt-get"):
        if shutil.which(program):
            (bin_dir / program).symlink_to(shutil.which(program))
    done = subprocess.run(["/bin/bash", str(ROOT / ".ci" / "system-deps")], capture_output=True, text=True, timeout=60,
                          env={"PATH": str(bin_dir), "EDGE_MOE_NO_INSTALL": "1"})
    assert done.returncode == 0
    assert "ffmpeg rtsp-server-perl not installed: the tests that need them will be SKIPPED" in done.stdout


def test_the_end_of_a_run_lists_skips_by_reason(tmp_path):
    (tmp_path / "test_probe.py").write_text(
        "import pytest\n"
        "def test_a(): pytest.skip('ffmpeg is not installed (apt-get install ffmpeg)')\n"
        "def test_b(): pytest.skip('ffmpeg is not installed (apt-get install ffmpeg)')\n"
        "def test_c(): pass\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "tests.skip_report", "-p", "no:cacheprovider",
                           str(tmp_path / "test_probe.py")], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout
    assert "2 tests SKIPPED, by reason" in done.stdout and "   2  ffmpeg is not installed (apt-get install ffmpeg)" in done.stdout
