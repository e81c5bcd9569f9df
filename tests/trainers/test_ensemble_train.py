"""`edge-moe train --model yolo-moe-* --experts A.pt,B.pt`: frozen experts stay unchanged; bad expert sets fail in one line."""
from __future__ import annotations

import pytest
import torch

from edge_moe.checkpoint import save_checkpoint
from edge_moe.cli import main
from edge_moe.models import create_model

DATA = "synthetic:n=8,val=4,imgsz=64,seed=5"
NAMES = ["circle", "square", "triangle"]


def _expert(path, seed: int, model: str = "yolo-pico", names=NAMES, imgsz: int = 64) -> str:
    torch.manual_seed(seed)
    save_checkpoint(path, create_model(model, num_classes=len(names), imgsz=imgsz), names)
    return str(path)


@pytest.fixture(scope="module")
def experts(tmp_path_factory) -> list[str]:
    root = tmp_path_factory.mktemp("experts")
    return [_expert(root / "a.pt", 1), _expert(root / "b.pt", 2)]


def _train(experts, out, *extra) -> int:
    return main(["train", "--model", "yolo-moe-pico", "--experts", ",".join(map(str, experts)), "--data", DATA, "--epochs", "1",
                 "--imgsz", "64", "--batch", "4", "--workers", "0", "--threads", "1", "--out", str(out), *extra])


@pytest.mark.slow
def test_frozen_experts_are_unchanged_after_training(experts, tmp_path):
    assert _train(experts, tmp_path / "run") == 0
    trained = torch.load(tmp_path / "run" / "weights" / "last.pt", weights_only=True)
    assert trained["model"] == "yolo-moe-pico" and trained["config"]["frozen"] is True
    state = trained["state_dict"]
    for e, path in enumerate(experts):
        expert = torch.load(path, weights_only=True)["state_dict"]
        for key, value in expert.items():  # weights and BatchNorm statistics alike
            part, rest = key.split(".", 1)
            ours = f"trunks.{e}.{key}" if part in ("backbone", "neck") else f"ensemble.experts.{e}.{key}"
            assert torch.equal(state[ours], value), ours
    routers = {k: v for k, v in state.items() if k.startswith("ensemble.router.") and v.is_floating_point()}
    torch.manual_seed(0)
    fresh = create_model("yolo-moe-pico", imgsz=64).state_dict()
    assert any(not torch.equal(v, fresh[k]) for k, v in routers.items())


@pytest.mark.parametrize(
    "case, expected",
    [
        ("one", "an ensemble needs at least 2 expert checkpoints"),
        ("missing", "missing.pt: checkpoint not found"),
        ("unreadable", "unreadable.pt: not an edge-moe checkpoint"),
        ("classes", "class names differ"),
        ("imgsz", "image sizes differ"),
        ("moe", "esmoe-pico is an MoE checkpoint; experts must be dense yolo-pico detectors"),
    ],
)
def test_bad_expert_sets_fail_in_one_line_before_writing(case, expected, experts, tmp_path, capsys):
    other = {
        "one": None,
        "missing": tmp_path / "missing.pt",
        "unreadable": tmp_path / "unreadable.pt",
        "classes": lambda: _expert(tmp_path / "two.pt", 3, names=NAMES[:2]),
        "imgsz": lambda: _expert(tmp_path / "i96.pt", 3, imgsz=96),
        "moe": lambda: _expert(tmp_path / "es.pt", 3, model="esmoe-pico"),
    }[case]
    if case == "unreadable":
        other.write_bytes(b"not a checkpoint")
    files = [experts[0]] if other is None else [experts[0], other() if callable(other) else other]
    out = tmp_path / "run"
    assert _train(files, out) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and "--experts" in err and len(err.splitlines()) == 1, err
    assert not out.exists()


def test_val_top_k_on_a_dense_checkpoint_is_one_line(experts, capsys):
    assert main(["val", "--weights", experts[0], "--data", DATA, "--top-k", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--top-k 1: top_k applies to MoE models only" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("flag", [["--balance-loss", "cv2"], ["--z-loss", "0.01"], ["--router-warmup", "0"]])
def test_router_options_the_ensemble_ignores_are_refused(flag, experts, tmp_path, capsys):
    assert _train(experts, tmp_path / "run", *flag) == 2
    err = capsys.readouterr().err.strip()
    assert f"{flag[0]} " in err and "yolo-moe-pico brings its own MoE loss and runs every expert" in err, err
    assert len(err.splitlines()) == 1 and not (tmp_path / "run" / "weights").exists()
