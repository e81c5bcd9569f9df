"""`train --out` never replaces a run (Ultralytics' numbered folders), `--resume` says what it does and refuses
options that contradict the saved run, `--epochs` above the saved total extends a finished run."""
import shutil

import pytest
import torch

from edge_moe.cli import main
from edge_moe.errors import UserError
from edge_moe.trainers import TrainConfig
from edge_moe.trainers.trainer import run_folder

DATA = "synthetic:n=8,val=4,imgsz=64,seed=5"
ARGS = ["--model", "esmoe-pico", "--data", DATA, "--imgsz", "64", "--batch", "4", "--workers", "0", "--close-mosaic", "1",
        "--threads", "1"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished one-epoch run."""
    out = tmp_path_factory.mktemp("finished") / "run"
    assert main(["train", *ARGS, "--epochs", "1", "--out", str(out)]) == 0
    return out


def test_run_folder_numbers_like_ultralytics(tmp_path):
    out = tmp_path / "x"
    assert run_folder(out, resume=False, exist_ok=False) == out  # new
    out.mkdir()
    assert run_folder(out, resume=False, exist_ok=False) == out  # empty
    (out / "results.csv").write_text("epoch\n")
    assert run_folder(out, resume=False, exist_ok=False) == tmp_path / "x2"
    (tmp_path / "x2").mkdir()
    assert run_folder(out, resume=False, exist_ok=False) == tmp_path / "x3"
    assert run_folder(out, resume=False, exist_ok=True) == out
    assert run_folder(out, resume=True, exist_ok=False) == out
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="is a file"):
        run_folder(tmp_path / "file", resume=False, exist_ok=False)


def test_out_that_is_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("keep me")
    assert main(["train", *ARGS, "--out", str(tmp_path / "notes.txt")]) == 2
    err = capsys.readouterr().err
    assert "notes.txt: is a file" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "notes.txt").read_text() == "keep me"


@pytest.mark.slow
def test_a_finished_run_is_never_replaced(finished, capsys):
    best = (finished / "weights" / "best.pt").read_bytes()
    capsys.readouterr()
    assert main(["train", *ARGS, "--epochs", "1", "--out", str(finished)]) == 0
    printed = capsys.readouterr().out
    second = finished.parent / f"{finished.name}2"
    assert f"run folder: {second}" in printed
    assert (finished / "weights" / "best.pt").read_bytes() == best
    assert (second / "weights" / "best.pt").is_file() and (second / "results.csv").is_file()


@pytest.mark.parametrize("option", [["--lr0", "0.5"], ["--batch", "2"], ["--mosaic", "0"], ["--model", "yolo-pico"]])
def test_resume_refuses_options_that_contradict_the_saved_run(finished, tmp_path, option, capsys):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    assert main(["train", "--out", str(run), "--resume", *option]) == 2
    err = capsys.readouterr().err
    assert "--resume continues" in err and "differs from the saved" in err and len(err.strip().splitlines()) == 1


def test_resume_of_a_finished_run_says_how_to_extend_it(finished, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    assert main(["train", "--out", str(run), "--resume", "--threads", "1"]) == 2
    assert "training already finished (1/1 epochs); give --epochs above 1 to extend it" in capsys.readouterr().err


@pytest.mark.slow
def test_epochs_above_the_saved_total_extend_a_finished_run(finished, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    assert main(["train", "--out", str(run), "--resume", "--epochs", "2", "--threads", "1", "--batch", "4"]) == 0
    printed = capsys.readouterr().out
    assert f"run folder: {run}" in printed and "from epoch 2 of 2 (extended from 1)" in printed
    payload = torch.load(run / "weights" / "last.pt", weights_only=True)
    assert payload["train_state"]["epoch"] == 2 and payload["train"]["config"]["epochs"] == 2
    assert len((run / "results.csv").read_text().strip().splitlines()) == 3


def test_a_run_saved_before_close_hsv_existed_resumes_with_the_jitter_on_to_the_end():
    saved = TrainConfig().to_dict()
    del saved["close_hsv"]
    assert TrainConfig.from_dict(saved).close_hsv == 0 and TrainConfig().close_hsv == 2
