import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Training tests use one thread: on a 2-core machine shared with other work, two OpenMP threads
    spin against each other and run several times slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
