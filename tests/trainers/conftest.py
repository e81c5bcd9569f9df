import pytest

from edge_moe.threads import torch_threads


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Training tests use one thread: on a 2-core machine shared with other work, two OpenMP threads
    spin against each other and run several times slower."""
    with torch_threads(1):
        yield
