import pytest
import torch

from edge_moe.errors import UserError
from edge_moe.threads import torch_threads


def test_sets_and_restores_and_zero_leaves_alone():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
        with torch_threads(0):
            assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_negative_count_names_the_option():
    with pytest.raises(UserError, match=r"--workers-threads must be >= 0 .*got -2"):
        with torch_threads(-2, "--workers-threads"):
            pass
