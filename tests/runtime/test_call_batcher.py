"""CallBatcher: frames handed in by several threads share calls, each thread gets its own frame's result."""
from __future__ import annotations

import threading
import time

import pytest

from edge_moe.runtime.call_batcher import CallBatcher


def run_threads(batcher: CallBatcher, sources: int, frames: int) -> dict[int, list]:
    got: dict[int, list] = {s: [] for s in range(sources)}

    def feed(source: int) -> None:
        for i in range(frames):
            got[source].append(batcher.infer((source, i), capture_ms=float(i)))

    threads = [threading.Thread(target=feed, args=(s,)) for s in range(sources)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return got


def test_waiting_frames_share_a_call_and_each_thread_gets_its_own_result():
    calls: list[list] = []

    def run(prepared, captures):
        calls.append(list(prepared))
        time.sleep(0.01)  # while a call runs, the other sources' frames queue up for the next
        return [("result", p, c) for p, c in zip(prepared, captures)]

    got = run_threads(CallBatcher(run, batch=3, lock=threading.Lock()), sources=3, frames=6)
    for source, results in got.items():
        assert results == [("result", (source, i), float(i)) for i in range(6)]
    assert max(len(c) for c in calls) > 1 and all(len(c) <= 3 for c in calls)
    assert sum(len(c) for c in calls) == 18


def test_batch_one_is_one_frame_per_call_in_arrival_order():
    calls: list[list] = []
    got = run_threads(CallBatcher(lambda p, c: calls.append(list(p)) or list(p), batch=1, lock=threading.Lock()), sources=2, frames=4)
    assert all(len(c) == 1 for c in calls) and len(calls) == 8
    assert got == {s: [(s, i) for i in range(4)] for s in range(2)}


def test_an_error_reaches_every_frame_of_its_call():
    def run(prepared, captures):
        raise RuntimeError("device lost")

    batcher = CallBatcher(run, batch=4, lock=threading.Lock())
    with pytest.raises(RuntimeError, match="device lost"):
        batcher.infer("frame")
    with pytest.raises(RuntimeError, match="device lost"):  # the batcher is free again for the next call
        batcher.infer("frame")
