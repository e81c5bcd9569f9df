"""What the README's smaller installs get: `models` and `info BUNDLE` without torch, one line naming the extra
(or JetPack's OpenCV) where a command needs what is missing. Real subprocesses with the module made unimportable."""
import os
import subprocess
import sys

import pytest

from edge_moe.zoo import ZOO


def edge_moe(*argv: str, without: str = "") -> subprocess.CompletedProcess:
    block = f"sys.modules[{without!r}] = None; " if without else ""  # import fails as if it were not installed
    code = f"import sys; {block}from edge_moe.cli import main; sys.exit(main({list(argv)!r}))"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_models_without_torch_lists_the_zoo():
    done = edge_moe("models", without="torch")
    assert done.returncode == 0, done.stderr
    assert "esmoe-pico" in done.stdout and len(done.stdout.strip().splitlines()) == len(ZOO) + 1


def test_the_catalogue_matches_the_registry():
    from edge_moe.models.registry import describe_models

    assert ZOO == describe_models(), "edge_moe/zoo.py is stale: regenerate it with `python -m edge_moe.zoo`"


def test_info_of_a_bundle_without_torch(bundle):
    done = edge_moe("info", str(bundle), without="torch")
    assert done.returncode == 0, done.stderr
    assert "esmoe-pico bundle" in done.stdout and "MoE layers" in done.stdout


@pytest.mark.parametrize("argv, missing, hint", [
    (["train", "--epochs", "1"], "torch", "pip install 'edge-moe[train]'"),
    (["export", "--model", "esmoe-pico", "--out", "b"], "torch", "pip install 'edge-moe[train]'"),
    (["info", "esmoe-pico"], "torch", "pip install 'edge-moe[train]'"),
    (["run", "--model", "b", "--source", "v.mp4"], "cv2", "--system-site-packages"),
])
def test_a_missing_module_is_one_line_naming_the_install(argv, missing, hint):
    done = edge_moe(*argv, without=missing)
    assert done.returncode == 2 and hint in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_closed_pipe_is_not_a_traceback():
    read, write = os.pipe()
    os.close(read)  # like `| head -1` that has already exited
    done = subprocess.run([sys.executable, "-m", "edge_moe", "models", "--json"], stdout=write, stderr=subprocess.PIPE,
                          text=True, timeout=120)
    os.close(write)
    assert done.returncode == 141 and done.stderr == ""


def test_garbage_checkpoint_is_one_line(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(os.urandom(4000))
    done = edge_moe("info", str(garbage))
    assert done.returncode == 2 and "garbage.pt: not an edge-moe checkpoint" in done.stderr
    assert "weights_only" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_info_of_a_missing_path_says_so():
    done = edge_moe("info", "/nonexistent")
    assert done.returncode == 2 and "/nonexistent: no such file or directory" in done.stderr and "did you mean" not in done.stderr
