import itertools
import threading
import time

from edge_moe.runtime.fair_lock import FairLock


def test_threads_that_always_want_the_lock_take_turns():
    lock = FairLock()
    order: list[str] = []
    ready = threading.Barrier(2)

    def worker(name: str) -> None:
        ready.wait()
        for _ in range(50):
            with lock:
                order.append(name)
                time.sleep(0.0005)  # the inference call

    threads = [threading.Thread(target=worker, args=(name,)) for name in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(order) == ["a"] * 50 + ["b"] * 50
    longest = max(len(list(run)) for _, run in itertools.groupby(order))
    assert longest <= 2  # once both have asked, neither takes the lock again while the other waits (a Lock gives runs)
