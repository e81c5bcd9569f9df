"""``edge-moe checks``: one probe per concern, each a line that is OK, missing or a warning with its fix.

Probes never fail: a missing part is a finding, not an error. torch is imported only by the torch probe
(last, and only when asked), so the rest runs on the torch-free runtime install.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import platform
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from edge_moe.environment import cuda, jetson

OK, MISSING, WARNING = "ok", "missing", "warning"


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | missing | warning
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def version_of(distribution: str) -> Optional[str]:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def module_version(module: str) -> Optional[str]:
    """``module.__version__`` after importing it (JetPack's system packages have no pip metadata); None when absent."""
    if not installed(module):
        return None
    try:
        return str(getattr(importlib.import_module(module), "__version__", "?"))
    except Exception:  # a broken install (missing shared library) is reported as missing
        return None


def probe_python(root: Path) -> list[Check]:
    good = sys.version_info >= (3, 10)
    return [Check("python", OK if good else WARNING, f"Python {platform.python_version()} ({sys.executable})",
                  "" if good else "edge-moe needs Python >= 3.10")]


def probe_numpy(root: Path) -> list[Check]:
    version = module_version("numpy")
    return [Check("numpy", OK, f"numpy {version}") if version else Check("numpy", MISSING, "numpy is not installed", "pip install edge-moe")]


def opencv_features(build_information: str) -> dict[str, bool]:
    """GStreamer / FFmpeg / V4L2 from ``cv2.getBuildInformation()``."""
    def has(label: str) -> bool:
        match = re.search(rf"^\s*{label}:\s*(\S+)", build_information, re.MULTILINE | re.IGNORECASE)
        return bool(match and match.group(1).upper() == "YES")

    return {"GStreamer": has("GStreamer"), "FFmpeg": has("FFMPEG"), "V4L2": has(r"v4l/v4l2")}


def probe_opencv(root: Path) -> list[Check]:
    if module_version("cv2") is None:
        return [Check("opencv", MISSING, "OpenCV (cv2) is not installed",
                      "pip install 'edge-moe[opencv]' (on a Jetson: sudo apt install python3-opencv, JetPack's build with GStreamer)")]
    import cv2

    features = opencv_features(cv2.getBuildInformation())
    detail = f"OpenCV {cv2.__version__}: " + ", ".join(f"{name} {'yes' if on else 'no'}" for name, on in features.items())
    if not features["GStreamer"] and jetson.model(root):
        return [Check("opencv", WARNING, detail + " (CSI cameras need GStreamer)",
                      "use JetPack's OpenCV: pip uninstall opencv-python-headless && sudo apt install python3-opencv")]
    return [Check("opencv", OK, detail)]


def probe_onnxruntime(root: Path) -> list[Check]:
    if module_version("onnxruntime") is None:
        return [Check("onnxruntime", MISSING, "ONNX Runtime is not installed", "pip install 'edge-moe[onnxruntime]'")]
    import onnxruntime

    providers = [p.replace("ExecutionProvider", "") for p in onnxruntime.get_available_providers()]
    detail = f"ONNX Runtime {onnxruntime.__version__}, providers: {', '.join(providers)}"
    gpu_providers = {"CUDA", "TensorRT", "NvTensorRTRTX"} & set(providers)
    if cuda.gpus() and not gpu_providers:
        return [Check("onnxruntime", WARNING, detail + " (CPU only on a GPU machine)",
                      "pip install onnxruntime-gpu (desktop) or NVIDIA's Jetson onnxruntime-gpu wheel")]
    return [Check("onnxruntime", OK, detail)]


def probe_tensorrt(root: Path) -> list[Check]:
    checks = []
    version = module_version("tensorrt")
    checks.append(Check("tensorrt", OK, f"TensorRT {version}") if version else
                  Check("tensorrt", MISSING, "TensorRT is not installed (Jetson, data-centre GPUs)",
                        "on a Jetson it ships with JetPack (use the system python3); elsewhere pip install 'edge-moe[tensorrt]'"))
    version = module_version("tensorrt_rtx")
    checks.append(Check("tensorrt-rtx", OK, f"TensorRT-RTX {version} (builds engines without a GPU)") if version else
                  Check("tensorrt-rtx", MISSING, "TensorRT-RTX is not installed (desktop RTX GPUs; builds on any machine)",
                        "pip install 'edge-moe[tensorrt-rtx]'"))
    return checks


def probe_cuda_python(root: Path) -> list[Check]:
    found = [f"{name} {version}" for name in ("cuda-python", "pycuda") if (version := version_of(name))]
    if not found:
        return [Check("cuda-python", MISSING, "neither cuda-python nor pycuda is installed (the TensorRT backend needs cuda-python)",
                      "pip install cuda-python (comes with the tensorrt and tensorrt-rtx extras)")]
    return [Check("cuda-python", OK, ", ".join(found))]


def cuda_runtime_version() -> Optional[str]:
    """The CUDA runtime cuda-python was built against ("13.4"); None without cuda-python."""
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart
        except ImportError:
            return None
    error, version = cudart.cudaRuntimeGetVersion()
    return f"{version // 1000}.{version % 1000 // 10}" if int(error) == 0 else None


def probe_cuda(root: Path) -> list[Check]:
    driver, runtime = cuda.driver_version(), cuda_runtime_version()
    runtime_text = f", CUDA runtime {runtime} (cuda-python)" if runtime else ""
    if driver is None:
        return [Check("cuda", MISSING, f"no NVIDIA driver (libcuda) here{runtime_text}; engines can be built (TensorRT-RTX), not run",
                      "install the NVIDIA driver (desktop) or JetPack (Jetson)")]
    return [Check("cuda", OK, f"CUDA driver {driver}{runtime_text}")]


def probe_gpus(root: Path) -> list[Check]:
    from edge_moe.exporters.engine_policy import RTX_COMPUTE_CAPABILITIES

    checks = []
    for gpu in cuda.gpus():
        detail = f"GPU {gpu.index}: {gpu.name}, compute capability {gpu.compute_capability}, {gpu.memory_mib} MiB"
        if gpu.compute_capability in RTX_COMPUTE_CAPABILITIES:
            turing = " (build with --compute-capability 7.5)" if gpu.compute_capability == "7.5" else ""
            checks.append(Check(f"gpu{gpu.index}", OK, f"{detail}; TensorRT-RTX engines run on it{turing}"))
        else:
            checks.append(Check(f"gpu{gpu.index}", WARNING, f"{detail}; not in TensorRT-RTX's list ({', '.join(RTX_COMPUTE_CAPABILITIES)})",
                                "build engines with --target tensorrt on this machine"))
    return checks or [Check("gpu", MISSING, "no CUDA GPU", "runs on the CPU with ONNX Runtime; a GPU needs the NVIDIA driver")]


def probe_jetson(root: Path) -> list[Check]:
    name, release = jetson.model(root), jetson.l4t(root)
    if name is None and release is None:
        return []
    checks = [Check("jetson", OK, f"Jetson: {name or 'unknown module'}")]
    if release is None:
        checks.append(Check("jetpack", WARNING, f"no L4T release in /{jetson.TEGRA_RELEASE}", "reflash with JetPack >= 5.1"))
    elif release.supported:
        checks.append(Check("jetpack", OK, f"L4T {release.release} (JetPack {release.jetpack})"))
    else:
        checks.append(Check("jetpack", WARNING, f"L4T {release.release} (JetPack {release.jetpack}): TensorRT older than 8.5",
                            "edge-moe's TensorRT path needs JetPack >= 5.1 (L4T 35.2.1); ONNX Runtime still works"))
    mode = jetson.power_mode()
    checks.append(Check("power", OK, f"power mode {mode}") if mode else
                  Check("power", WARNING, "power mode unknown (no nvpmodel, or no answer from `nvpmodel -q`)", "sudo nvpmodel -q"))
    checks.append(Check("clocks", WARNING, "clocks may scale down between frames",
                        "sudo jetson_clocks for steady latency figures (and sudo nvpmodel -m 0 for MAXN)"))
    return checks


def probe_cameras(root: Path) -> list[Check]:
    devices = sorted(str(p.relative_to(root)) for p in (root / "dev").glob("video*")) if (root / "dev").is_dir() else []
    if not devices:
        return [Check("cameras", MISSING, "no V4L2 camera (/dev/video*)", "plug a USB camera in, or use files and RTSP streams")]
    return [Check("cameras", OK, "cameras: " + ", ".join(f"/{d}" for d in devices))]


def probe_torch(root: Path) -> list[Check]:
    if not installed("torch"):
        return [Check("torch", MISSING, "torch is not installed (needed to train and export, not to run)",
                      "pip install 'edge-moe[train,export]'")]
    import torch

    gpu = "CUDA available" if torch.cuda.is_available() else "no CUDA"
    return [Check("torch", OK, f"torch {torch.__version__} (CUDA {torch.version.cuda or 'none'}, {gpu})")]


PROBES: list[Callable[[Path], list[Check]]] = [
    probe_python, probe_numpy, probe_opencv, probe_onnxruntime, probe_tensorrt, probe_cuda_python, probe_cuda,
    probe_gpus, probe_jetson, probe_cameras,
]


def run_checks(root: Path = Path("/"), torch: bool = True) -> list[Check]:
    """Every probe's findings in order; ``torch=False`` leaves torch unimported."""
    return [check for probe in PROBES + ([probe_torch] if torch else []) for check in probe(root)]


def jobs(checks: list[Check]) -> dict[str, bool]:
    """Which edge-moe jobs work on this machine, from the probes' findings."""
    ok = {check.name for check in checks if check.status != MISSING}
    gpu = any(check.name.startswith("gpu") and check.status != MISSING for check in checks)
    onnxruntime_gpu = any(check.name == "onnxruntime" and re.search(r"\b(CUDA|TensorRT|NvTensorRTRTX)\b", check.detail) for check in checks)
    return {
        "train": "opencv" in ok and installed("torch"),
        "export": "onnxruntime" in ok and all(installed(m) for m in ("torch", "onnx", "onnxscript")),
        "build engines": bool({"tensorrt-rtx"} & ok) or ({"tensorrt"} <= ok and gpu),
        "run on CPU": {"numpy", "opencv", "onnxruntime"} <= ok,
        "run on GPU": gpu and (onnxruntime_gpu or (bool({"tensorrt", "tensorrt-rtx"} & ok) and "cuda-python" in ok)),
    }


def report(checks: list[Check]) -> dict[str, Any]:
    return {"checks": [check.as_dict() for check in checks], "jobs": jobs(checks)}
