import os

import pytest

pytest_plugins = ["tests.skip_report"]  # the end of the run lists what was skipped and why

# Two cores here; keep torch from oversubscribing them when tests run.
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(autouse=True)
def _seed():
    try:
        import torch
    except ImportError:  # the runtime-only venv has no torch
        return
    torch.manual_seed(0)
