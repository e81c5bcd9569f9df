"""A tiny end-to-end run: CLI train, a run killed in its last epoch then resumed, val, info."""
import json

import pytest
import torch

from edge_moe.checkpoint import model_from_checkpoint, save_checkpoint
from edge_moe.cli import main
from edge_moe.data import load_data
from edge_moe.data.augment import AugmentConfig
from edge_moe.data.loader import TrainDataset
from edge_moe.models import create_model
from edge_moe.trainers import trainer as trainer_module
from edge_moe.trainers import TrainConfig, train
from edge_moe.trainers.precise_bn import recompute_batchnorm_statistics, training_batches

DATA = "synthetic:n=8,val=4,imgsz=64,seed=5"
OPTIONS = dict(model="esmoe-pico", data=DATA, epochs=2, imgsz=64, batch=4, workers=0, close_mosaic=1, threads=1)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """Two epochs in one go, through the CLI."""
    out = tmp_path_factory.mktemp("straight")
    code = main(["train", "--model", "esmoe-pico", "--data", DATA, "--epochs", "2", "--imgsz", "64", "--batch", "4",
                 "--workers", "0", "--close-mosaic", "1", "--threads", "1", "--out", str(out)])
    assert code == 0
    return out


def test_cli_train_writes_run_folder(straight, capsys):
    weights = straight / "weights"
    assert sorted(p.name for p in weights.iterdir()) == ["best.pt", "last.pt"]  # no temp files left
    payload = torch.load(weights / "last.pt", weights_only=True)
    assert payload["model"] == "esmoe-pico" and payload["class_names"] == ["circle", "square", "triangle"]
    assert payload["train_state"]["epoch"] == 2 and "optimizer" in payload["train_state"]
    rows = (straight / "results.csv").read_text().strip().splitlines()
    assert len(rows) == 3 and rows[0].startswith("epoch,lr,box,cls,dfl,moe,map50_95,map50,ar100")
    assert "usage:backbone.moe.p3:e0" in rows[0]
    for name in ("losses.png", "metrics.png", "expert_usage.png"):
        assert (straight / name).read_bytes()[:4] == b"\x89PNG"


def test_the_shipped_batchnorm_statistics_are_those_of_the_shipped_weights(straight):
    model, _ = model_from_checkpoint(straight / "weights" / "last.pt")
    shipped = {k: v.clone() for k, v in model.state_dict().items() if k.endswith(("running_mean", "running_var"))}
    dataset = TrainDataset(load_data(DATA).split("train"), 64, AugmentConfig(), seed=0)
    dataset.set_epoch(1, mosaic_on=False, hsv_on=False)  # the last epoch (close_mosaic=1, close_hsv 2 by default)
    recompute_batchnorm_statistics(model, training_batches(dataset, TrainConfig().precise_bn, 4, seed=0, epoch=1, device="cpu"))
    for key, value in shipped.items():
        torch.testing.assert_close(model.state_dict()[key], value, atol=1e-4, rtol=1e-4, msg=key)


def test_killed_run_resumes_exactly(straight, tmp_path, monkeypatch):
    real_evaluate = trainer_module.evaluate
    calls = []

    def evaluate_then_die(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # end of epoch 2, before its checkpoint: the whole epoch is lost
            raise KeyboardInterrupt
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(trainer_module, "evaluate", evaluate_then_die)
    with pytest.raises(KeyboardInterrupt):
        train(out=tmp_path, progress=False, **OPTIONS)
    assert torch.load(tmp_path / "weights" / "last.pt", weights_only=True)["train_state"]["epoch"] == 1
    monkeypatch.setattr(trainer_module, "evaluate", real_evaluate)
    result = train(out=tmp_path, resume=True, progress=False, **OPTIONS)
    resumed = torch.load(result.last_weights, weights_only=True)
    reference = torch.load(straight / "weights" / "last.pt", weights_only=True)
    for key, value in reference["state_dict"].items():
        torch.testing.assert_close(resumed["state_dict"][key], value, msg=key)
    for key, value in reference["train_state"]["model"].items():
        torch.testing.assert_close(resumed["train_state"]["model"][key], value, msg=key)
    assert len(resumed["train_state"]["history"]) == 2
    assert set(result.metrics) >= {"map50_95", "map50", "ar100", "expert_usage"}
    with pytest.raises(Exception, match="already finished"):
        train(out=tmp_path, resume=True, progress=False, **OPTIONS)


def test_val_json_and_dense_sparse_agree(straight, capsys):
    weights = str(straight / "weights" / "best.pt")
    results = {}
    for routing in ("sparse", "dense"):
        assert main(["val", "--weights", weights, "--data", DATA, "--routing", routing, "--json"]) == 0
        results[routing] = json.loads(capsys.readouterr().out)
    sparse = results["sparse"]
    assert {"map50_95", "map50", "ar100", "ms_per_image", "by_regime", "expert_usage", "routing_warnings"} <= set(sparse)
    assert set(sparse["by_regime"]) == {"few-large", "many-small"}
    assert [u["layer"] for u in sparse["expert_usage"]] == [f"backbone.moe.p{i}" for i in (2, 3, 4, 5)]
    for key in ("map50_95", "map50", "ar100"):
        assert sparse[key] == pytest.approx(results["dense"][key], abs=1e-4)
    assert main(["info", weights]) == 0
    assert "esmoe-pico" in capsys.readouterr().out


def test_val_refuses_bad_checkpoints(straight, tmp_path, capsys):
    junk = tmp_path / "junk.pt"
    junk.write_text("hello")
    assert main(["val", "--weights", str(junk), "--data", DATA]) == 2
    assert "junk.pt: not an edge-moe checkpoint" in capsys.readouterr().err
    other = tmp_path / "other.pt"
    payload = torch.load(straight / "weights" / "best.pt", weights_only=True)
    payload["config"] = create_model("yolo-pico", imgsz=64).config.to_dict()
    torch.save(payload, other)
    assert main(["val", "--weights", str(other), "--data", DATA]) == 2
    err = capsys.readouterr().err
    assert "other.pt: weights do not match model" in err and "Traceback" not in err
    five = tmp_path / "five.pt"
    save_checkpoint(five, create_model("esmoe-pico", imgsz=64, num_classes=5), list("abcde"))
    assert main(["val", "--weights", str(five), "--data", DATA]) == 2
    assert "3 classes" in capsys.readouterr().err


def test_resume_without_a_run(tmp_path, capsys):
    assert main(["train", "--data", DATA, "--imgsz", "64", "--out", str(tmp_path), "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err


def test_negative_threads_is_a_one_line_error(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", DATA, "--imgsz", "64", "--out", str(out), "--threads", "-1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--threads: must be an integer >= 0" in err and "-1" in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_bad_data_fails_before_anything_is_written(tmp_path, capsys):
    data = tmp_path / "data.yaml"
    data.write_text("train: images/train\nnames: [a]\n")
    out = tmp_path / "run"
    assert main(["train", "--data", str(data), "--imgsz", "64", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "data.yaml: missing key(s) val" in err and "Traceback" not in err
    assert not out.exists()
