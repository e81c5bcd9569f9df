"""Classifier end to end on a real ImageFolder: train -> val -> export -> run, the frozen branch, wrong-task inputs."""
import json

import cv2
import numpy as np
import pytest
import torch

from edge_moe.checkpoint import model_from_checkpoint
from edge_moe.cli import main
from edge_moe.data.xray_builtin import _photo, render
from edge_moe.errors import UserError
from edge_moe.models import create_model
from edge_moe.trainers import train
from edge_moe.trainers.optim import build_optimizer

CLASSES = ("coins", "clock", "camera")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("xray")
    rng = np.random.default_rng(0)
    for name in CLASSES:
        photo = _photo(name)
        for split, count in (("train", 8), ("val", 4)):
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                cv2.imwrite(str(root / split / name / f"{i}.png"), render(photo, rng))
    return root


@pytest.fixture(scope="module")
def trained(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    with torch.random.fork_rng():
        torch.manual_seed(123)  # the frozen branch must not depend on the global RNG
        result = train(model="xray-moe-pico", data=str(folder), epochs=2, imgsz=32, batch=8, workers=0, out=str(out), progress=False)
    return result


def test_training_writes_checkpoints_plots_and_keeps_the_branch_frozen(trained):
    assert trained.best_weights.is_file() and trained.last_weights.is_file()
    for png in ("losses.png", "metrics.png", "expert_usage.png", "confusion_matrix.png"):
        assert (trained.out / png).stat().st_size > 0, png
    assert {"accuracy", "f1_macro", "per_class", "confusion_matrix", "expert_usage", "routing_warnings"} <= set(trained.metrics)
    model, payload = model_from_checkpoint(trained.best_weights)
    assert payload["class_names"] == sorted(CLASSES) and model.config.task == "classify"
    fresh = create_model("xray-moe-pico", num_classes=3, imgsz=32)
    for key, value in fresh.branch.state_dict().items():
        assert torch.equal(model.branch.state_dict()[key], value), key  # weights and BN statistics unchanged
    trained_trunk = model.trunk.stem[0].weight
    assert not torch.equal(trained_trunk, fresh.trunk.stem[0].weight)  # while the trunk did train


def test_frozen_branch_is_out_of_the_optimiser():
    model = create_model("xray-moe-pico")
    optimizer = build_optimizer(model, "adamw", 1e-3, 0.9, 5e-4, router_lr_mult=10.0)
    optimised = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert not optimised & {id(p) for p in model.branch.parameters()}
    assert {id(p) for p in model.moe.router.parameters()} <= optimised


def test_val_json_and_confusion_matrix(trained, folder, capsys):
    assert main(["val", "--weights", str(trained.best_weights), "--data", str(folder), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert 0.0 <= report["accuracy"] <= 1.0 and 0.0 <= report["f1_macro"] <= 1.0
    assert [c["class"] for c in report["per_class"]] == sorted(CLASSES)
    assert np.asarray(report["confusion_matrix"]).sum() == 12
    assert report["expert_usage"][0]["layer"] == "moe"
    assert cv2.imread(report["confusion_matrix_png"]) is not None


def test_val_refuses_data_of_another_task(trained, capsys):
    assert main(["val", "--weights", str(trained.best_weights), "--data", "synthetic"]) != 0
    assert "is a classification checkpoint; expected an ImageFolder" in capsys.readouterr().err


def test_export_and_run_a_classify_bundle(trained, folder, tmp_path, capsys):
    from edge_moe.exporters.export import export_with_report
    from edge_moe.runtime import Classifier, Detector

    report = export_with_report(trained.best_weights, tmp_path / "bundle", parity_count=2, other_out=tmp_path / "dense")
    for key in ("sparse", "dense", "sparse_vs_dense"):
        assert report.parity[key]["logits_max_abs_diff"] <= 1e-4 and report.parity[key]["routing_ids_identical"], key
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    assert manifest["task"] == "classify" and manifest["class_names"] == sorted(CLASSES)
    assert manifest["decoding"]["probs"]["activation"] == "softmax"
    assert [s.get("run") or s.get("experts") for s in manifest["plan"]["steps"]] == ["segment0", "moe", "segment1"]

    log = tmp_path / "frames.jsonl"
    assert main(["run", "--model", str(tmp_path / "bundle"), "--source", str(folder / "val" / "coins"), "--log", str(log),
                 "--save", str(tmp_path / "out.mp4"), "--quiet"]) == 0
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(records) == 4 and "detections" not in records[0]
    classes = records[0]["classes"]
    assert len(classes) == 3 and {c["class_name"] for c in classes} == set(CLASSES)
    assert abs(sum(c["score"] for c in classes) - 1) < 1e-3 and classes[0]["score"] >= classes[1]["score"]
    assert records[0]["experts"][0]["layer"] == "moe" and len(records[0]["experts"][0]["ids"]) == 2
    assert cv2.VideoCapture(str(tmp_path / "out.mp4")).read()[0]

    assert main(["info", str(tmp_path / "bundle")]) == 0
    assert "parity sparse_vs_dense        logits 0.00e+00" in capsys.readouterr().out

    classifier = Classifier(tmp_path / "dense", top=2)
    result = classifier(cv2.imread(str(folder / "val" / "clock" / "0.png")))
    assert len(result.classes) == 2 and result.classes.names[0] in CLASSES and result.experts[0].layer == "moe"
    with pytest.raises(UserError, match=r"a 'classify' bundle, but Detector runs 'detect' bundles"):
        Detector(tmp_path / "bundle")


def test_detector_bundle_refused_by_classifier(tmp_path):
    from edge_moe.exporters.export import export_bundle
    from edge_moe.runtime import Classifier

    bundle = export_bundle("yolo-pico", tmp_path / "det", imgsz=64, parity_count=1)
    with pytest.raises(UserError, match=r"a 'detect' bundle, but Classifier runs 'classify' bundles"):
        Classifier(bundle)


def test_val_refuses_a_detector_checkpoint_on_an_image_folder(folder, tmp_path, capsys):
    from edge_moe.checkpoint import save_checkpoint

    weights = save_checkpoint(tmp_path / "det.pt", create_model("yolo-pico"), ["a", "b", "c"])
    assert main(["val", "--weights", str(weights), "--data", str(folder)]) != 0
    assert "an ImageFolder (classification) directory, but" in capsys.readouterr().err


def test_detector_training_refuses_an_image_folder(folder, capsys):
    assert main(["train", "--model", "yolo-pico", "--data", str(folder), "--epochs", "1"]) != 0
    assert "an ImageFolder (classification) directory; detectors expect" in capsys.readouterr().err
