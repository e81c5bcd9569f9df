import pytest
import torch

from edge_moe.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from edge_moe.errors import UserError
from edge_moe.models import create_model


def test_roundtrip_and_weights_only(tmp_path):
    model = create_model("esmoe-pico", imgsz=64).eval()
    path = save_checkpoint(tmp_path / "w" / "last.pt", model, ["a", "b", "c"])
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no temp file left behind
    torch.load(path, weights_only=True)
    loaded, payload = model_from_checkpoint(path)
    assert payload["class_names"] == ["a", "b", "c"] and loaded.config == model.config
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x)[0][0], loaded(x)[0][0])


def test_not_a_checkpoint(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a zip")
    with pytest.raises(UserError, match=r"junk.pt: not an edge-moe checkpoint"):
        load_checkpoint(junk)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(1)}, other)
    with pytest.raises(UserError, match=r"other.pt: not an edge-moe checkpoint"):
        load_checkpoint(other)
    with pytest.raises(UserError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_weights_of_another_model_are_refused(tmp_path):
    path = save_checkpoint(tmp_path / "a.pt", create_model("esmoe-pico", imgsz=64), ["a", "b", "c"])
    payload = torch.load(path, weights_only=True)
    payload["config"] = create_model("yolo-pico", imgsz=64).config.to_dict()
    torch.save(payload, path)
    with pytest.raises(UserError, match="weights do not match"):
        model_from_checkpoint(path)


def test_an_unwritable_checkpoint_path_is_one_line_and_leaves_no_temp(tmp_path):
    model = create_model("esmoe-pico", imgsz=64)
    (tmp_path / "runs").write_text("a file, not a folder")
    with pytest.raises(UserError, match="runs/last.pt: cannot create its folder"):
        save_checkpoint(tmp_path / "runs" / "last.pt", model, ["a"])
    (tmp_path / "w" / "last.pt").mkdir(parents=True)  # the target is a folder: the final rename fails
    with pytest.raises(UserError, match=r"last.pt: cannot write"):
        save_checkpoint(tmp_path / "w" / "last.pt", model, ["a"])
    assert [p.name for p in (tmp_path / "w").iterdir()] == ["last.pt"]
