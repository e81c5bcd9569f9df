"""The CUDA driver and its GPUs, read through ``libcuda`` with ctypes (no cuda-python, no torch needed).

``gpus()`` is empty on a machine without an NVIDIA driver, so callers can ask "is there a CUDA GPU?"
anywhere: ``build-engine --target auto`` and ``edge-moe checks`` both do.
"""
from __future__ import annotations

import ctypes
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

_LIBRARIES = ("libcuda.so.1", "libcuda.so", "nvcuda.dll")
# CUdevice_attribute values (cuda.h)
_MAJOR, _MINOR = 75, 76


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    compute_capability: str  # "8.6"
    memory_mib: int


@lru_cache(maxsize=1)
def _driver() -> Optional[ctypes.CDLL]:
    """The initialised driver library, or None when there is no driver or no usable device."""
    for name in _LIBRARIES:
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        return lib if lib.cuInit(0) == 0 else None
    return None


def driver_version() -> Optional[str]:
    """The CUDA version the driver supports, e.g. "13.0"; None without a driver."""
    lib = _driver()
    version = ctypes.c_int()
    if lib is None or lib.cuDriverGetVersion(ctypes.byref(version)) != 0:
        return None
    return f"{version.value // 1000}.{version.value % 1000 // 10}"


def gpus() -> list[Gpu]:
    """Every CUDA device the driver sees (empty without a driver)."""
    lib = _driver()
    count = ctypes.c_int()
    if lib is None or lib.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return []
    found = []
    for index in range(count.value):
        device, major, minor, memory = ctypes.c_int(), ctypes.c_int(), ctypes.c_int(), ctypes.c_size_t()
        name = ctypes.create_string_buffer(256)
        lib.cuDeviceGet(ctypes.byref(device), index)
        lib.cuDeviceGetName(name, len(name), device)
        lib.cuDeviceGetAttribute(ctypes.byref(major), _MAJOR, device)
        lib.cuDeviceGetAttribute(ctypes.byref(minor), _MINOR, device)
        lib.cuDeviceTotalMem_v2(ctypes.byref(memory), device)
        found.append(Gpu(index, name.value.decode(errors="replace"), f"{major.value}.{minor.value}", memory.value >> 20))
    return found
