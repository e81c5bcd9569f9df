"""The CUDA runtime calls the GPU backends share (through cuda-python): error checking and row copies on the device."""
from __future__ import annotations

from typing import Optional, Sequence

try:  # cuda-python >= 12.6 moved the bindings
    from cuda.bindings import runtime as cudart
except ImportError:  # pragma: no cover - depends on the installed cuda-python
    from cuda import cudart


def check_cuda(result):
    """cuda-python returns (error, *values); raise on error, return the values."""
    error, *values = result if isinstance(result, tuple) else (result,)
    if error != cudart.cudaError_t.cudaSuccess:
        name = cudart.cudaGetErrorName(error)[1]
        raise RuntimeError(f"CUDA error {name.decode() if isinstance(name, bytes) else name}")
    return values[0] if len(values) == 1 else (values or None)


def row_runs(source_rows: Sequence[int], target_rows: Sequence[int]) -> list[tuple[int, int, int]]:
    """(source row, target row, count) runs of consecutive rows, so contiguous rows move in one copy."""
    runs: list[tuple[int, int, int]] = []
    for s, t in zip(source_rows, target_rows):
        if runs and s == runs[-1][0] + runs[-1][2] and t == runs[-1][1] + runs[-1][2]:
            runs[-1] = (runs[-1][0], runs[-1][1], runs[-1][2] + 1)
        else:
            runs.append((int(s), int(t), 1))
    return runs


def copy_device_rows(source: int, source_rows: Sequence[int], target: int, target_rows: Sequence[int], row_bytes: int,
                     stream: Optional[object] = None) -> None:
    """Device-to-device copies of whole rows between two batch-major buffers (pointers), queued on ``stream``
    (synchronous on the default stream when None)."""
    kind = cudart.cudaMemcpyKind.cudaMemcpyDeviceToDevice
    for s, t, count in row_runs(source_rows, target_rows):
        src, dst, size = source + s * row_bytes, target + t * row_bytes, count * row_bytes
        check_cuda(cudart.cudaMemcpy(dst, src, size, kind) if stream is None else cudart.cudaMemcpyAsync(dst, src, size, kind, stream))


class CudaEventTimer:
    """GPU time between two points of a stream's queue (CUDA events): what the device spent on a call, which a host
    clock around asynchronous launches does not see."""

    def __init__(self, stream: object):
        self.stream = stream
        self.begin = check_cuda(cudart.cudaEventCreate())
        self.end = check_cuda(cudart.cudaEventCreate())

    def start(self) -> None:
        check_cuda(cudart.cudaEventRecord(self.begin, self.stream))

    def stop(self) -> None:
        check_cuda(cudart.cudaEventRecord(self.end, self.stream))

    def elapsed_ms(self) -> float:
        """Waits for the stop event, then returns the milliseconds since the start event."""
        check_cuda(cudart.cudaEventSynchronize(self.end))
        return float(check_cuda(cudart.cudaEventElapsedTime(self.begin, self.end)))

    def close(self) -> None:
        if self.begin is not None:
            cudart.cudaEventDestroy(self.begin)
            cudart.cudaEventDestroy(self.end)
            self.begin = self.end = None
