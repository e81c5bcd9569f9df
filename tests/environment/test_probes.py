"""`edge-moe checks`: probes against a fake filesystem root (Jetson files), parsers, jobs, CLI, no torch import."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edge_moe.cli import main
from edge_moe.environment import jetson
from edge_moe.environment.probes import MISSING, OK, WARNING, Check, jobs, opencv_features, run_checks

ORIN_RELEASE = "# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref, EABI: aarch64, DATE: Tue Aug  1 19:57:35 UTC 2023\n"


def fake_jetson(root: Path, release: str = ORIN_RELEASE, model: bytes = b"NVIDIA Jetson AGX Orin Developer Kit\x00") -> Path:
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "nv_tegra_release").write_text(release)
    (root / "proc" / "device-tree").mkdir(parents=True)
    (root / "proc" / "device-tree" / "model").write_bytes(model)
    (root / "dev").mkdir()
    (root / "dev" / "video0").touch()
    return root


@pytest.mark.parametrize(
    "text, release, jetpack, supported",
    [
        (ORIN_RELEASE, "35.4.1", "5.1.2", True),
        ("# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64\n", "36.4.3", "6.2", True),
        ("# R38 (release), REVISION: 2.0, GCID: 1, BOARD: generic, EABI: aarch64\n", "38.2.0", "7.0", True),
        ("# R36 (release), REVISION: 9.9\n", "36.9.9", "6.x", True),  # a release the table does not know: its line
        ("# R35 (release), REVISION: 1.0\n", "35.1.0", "5.x", False),  # JetPack 5.0.2: TensorRT 8.4
        ("# R32 (release), REVISION: 7.1, GCID: 29818004\n", "32.7.1", "4.x", False),
    ],
)
def test_l4t_release_and_jetpack(tmp_path, text, release, jetpack, supported):
    found = jetson.l4t(fake_jetson(tmp_path, text))
    assert (found.release, found.jetpack, found.supported) == (release, jetpack, supported)


def test_not_a_jetson(tmp_path):
    assert jetson.l4t(tmp_path) is None and jetson.model(tmp_path) is None
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "nv_tegra_release").write_text("garbage\n")
    assert jetson.l4t(tmp_path) is None


def test_power_mode_parsing():
    assert jetson.parse_power_mode("NV Power Mode: MAXN\n0\n") == "MAXN (mode 0)"
    assert jetson.parse_power_mode("NVPM WARN: ...\nNV Power Mode: 15W\n2\n") == "15W (mode 2)"
    assert jetson.parse_power_mode("nvpmodel: command failed\n") is None


def test_opencv_build_information():
    info = "  Video I/O:\n    FFMPEG:                      YES\n    GStreamer:                   YES (1.20.3)\n    v4l/v4l2:                    YES (linux/videodev2.h)\n"
    assert opencv_features(info) == {"GStreamer": True, "FFmpeg": True, "V4L2": True}
    assert opencv_features(info.replace("YES (1.20.3)", "NO")) == {"GStreamer": False, "FFmpeg": True, "V4L2": True}


def test_checks_on_a_fake_jetson(tmp_path):
    checks = {c.name: c for c in run_checks(fake_jetson(tmp_path), torch=False)}
    assert checks["jetson"] == Check("jetson", OK, "Jetson: NVIDIA Jetson AGX Orin Developer Kit")
    assert checks["jetpack"] == Check("jetpack", OK, "L4T 35.4.1 (JetPack 5.1.2)")
    assert checks["power"].status == WARNING and "sudo nvpmodel -q" in checks["power"].fix  # no nvpmodel on this machine
    assert "jetson_clocks" in checks["clocks"].fix
    assert checks["cameras"] == Check("cameras", OK, "cameras: /dev/video0")
    # pip's OpenCV wheel has no GStreamer: on a Jetson that is a warning naming JetPack's OpenCV
    assert checks["opencv"].status == WARNING and "python3-opencv" in checks["opencv"].fix
    assert "torch" not in checks


def test_checks_on_an_old_jetpack_warn(tmp_path):
    checks = {c.name: c for c in run_checks(fake_jetson(tmp_path, "# R32 (release), REVISION: 7.1\n"), torch=False)}
    assert checks["jetpack"].status == WARNING and "JetPack >= 5.1" in checks["jetpack"].fix


def test_no_jetson_lines_elsewhere(tmp_path):
    names = [c.name for c in run_checks(tmp_path, torch=False)]
    assert names[:4] == ["python", "numpy", "opencv", "onnxruntime"]
    assert not {"jetson", "jetpack", "power"} & set(names)
    assert {"tensorrt", "tensorrt-rtx", "cuda-python", "cuda", "cameras"} <= set(names)


def test_jobs_from_findings():
    def checks(*pairs):
        return [Check(name, status, detail) for name, status, detail in pairs]

    cpu_only = checks(("numpy", OK, ""), ("opencv", OK, ""), ("onnxruntime", OK, "providers: CPU"), ("tensorrt", MISSING, ""),
                      ("tensorrt-rtx", OK, ""), ("gpu", MISSING, ""))
    found = jobs(cpu_only)
    assert found["run on CPU"] and found["build engines"] and not found["run on GPU"]
    gpu = cpu_only[:-1] + checks(("gpu0", OK, ""), ("cuda-python", OK, ""))
    assert jobs(gpu)["run on GPU"]
    tensorrt_without_gpu = checks(("tensorrt", OK, ""), ("tensorrt-rtx", MISSING, ""), ("gpu", MISSING, ""))
    assert not jobs(tensorrt_without_gpu)["build engines"]  # TensorRT proper builds on the GPU that runs the engine


def test_cli_text_and_json(tmp_path, capsys):
    assert main(["checks", "--root", str(fake_jetson(tmp_path))]) == 0  # missing parts are findings: exit 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert all(line.split()[0] in ("OK", "missing", "warning") for line in lines[:-1])
    assert lines[-1].startswith("works here: ") and "run on CPU" in lines[-1]
    assert any("L4T 35.4.1 (JetPack 5.1.2)" in line for line in lines)
    assert main(["checks", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["jobs"]) == {"train", "export", "build engines", "run on CPU", "run on GPU"}
    assert {c["status"] for c in report["checks"]} <= {OK, MISSING, WARNING}
    assert report["checks"][-1]["name"] == "torch"


def test_probes_do_not_import_torch():
    code = ("import sys; from edge_moe.environment.probes import run_checks; run_checks(torch=False); "
            "sys.exit('torch imported' if 'torch' in sys.modules else 0)")
    subprocess.run([sys.executable, "-c", code], check=True)
