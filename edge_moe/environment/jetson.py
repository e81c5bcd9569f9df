"""Jetson facts: the module (device tree), the L4T release and its JetPack, the power mode.

Every reader takes the filesystem root, so tests run them against a fake root on any machine.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

TEGRA_RELEASE = "etc/nv_tegra_release"
DEVICE_TREE_MODEL = "proc/device-tree/model"
# L4T release -> JetPack (NVIDIA's JetPack archive); a release not listed is named by its L4T major line.
JETPACK = {
    "35.2.1": "5.1", "35.3.1": "5.1.1", "35.4.1": "5.1.2", "35.5.0": "5.1.3", "35.6.0": "5.1.4",
    "36.3.0": "6.0", "36.4.0": "6.1", "36.4.3": "6.2", "36.4.4": "6.2.1", "38.2.0": "7.0",
}
JETPACK_LINE = {32: "4.x", 34: "5.0 (developer preview)", 35: "5.x", 36: "6.x", 38: "7.x"}


@dataclass(frozen=True)
class L4T:
    release: str  # "35.4.1"

    @property
    def major(self) -> int:
        return int(self.release.split(".")[0])

    @property
    def jetpack(self) -> str:
        return JETPACK.get(self.release) or JETPACK_LINE.get(self.major, "unknown")

    @property
    def supported(self) -> bool:
        """edge-moe needs TensorRT >= 8.5: JetPack 5.1 (L4T 35.2.1) or later."""
        return tuple(int(p) for p in self.release.split(".")) >= (35, 2, 1)


def model(root: Path = Path("/")) -> Optional[str]:
    """"NVIDIA Jetson AGX Orin Developer Kit" on a Jetson, None elsewhere."""
    path = root / DEVICE_TREE_MODEL
    if not path.is_file():
        return None
    return path.read_bytes().rstrip(b"\x00\n").decode(errors="replace") or None


def l4t(root: Path = Path("/")) -> Optional[L4T]:
    """The L4T release from ``/etc/nv_tegra_release`` ("# R35 (release), REVISION: 4.1, ..."), None when absent."""
    path = root / TEGRA_RELEASE
    if not path.is_file():
        return None
    match = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*(\d+)(?:\.(\d+))?", path.read_text(errors="replace"))
    if not match:
        return None
    major, minor, patch = match.group(1), match.group(2), match.group(3) or "0"
    return L4T(f"{major}.{minor}.{patch}")


def parse_power_mode(output: str) -> Optional[str]:
    """``nvpmodel -q`` prints "NV Power Mode: MAXN" and the mode id on the next line: "MAXN (mode 0)"."""
    match = re.search(r"NV Power Mode:\s*(\S+)\s*(\d+)?", output)
    if not match:
        return None
    return f"{match.group(1)} (mode {match.group(2)})" if match.group(2) else match.group(1)


def power_mode() -> Optional[str]:
    """The current nvpmodel power mode, None where nvpmodel is missing or fails."""
    if shutil.which("nvpmodel") is None:
        return None
    try:
        result = subprocess.run(["nvpmodel", "-q"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_power_mode(result.stdout)
