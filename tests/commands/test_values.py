"""One rule per kind of value, shared by every command: a bad value is one line and exit 2, before any work."""
import argparse
import math

import pytest

from edge_moe.cli import main
from edge_moe.commands.values import (non_negative_float, non_negative_int, positive_float, positive_int, probability,
                                      seconds_or_forever)


@pytest.mark.parametrize("rule, good, bad", [
    (positive_int, {"1": 1, "16": 16}, ["0", "-3", "1.5", "x"]),
    (non_negative_int, {"0": 0, "4": 4}, ["-1", "2.0", ""]),
    (probability, {"0": 0.0, "1": 1.0, "0.25": 0.25}, ["5", "-0.1", "nan", "inf"]),
    (positive_float, {"0.002": 0.002, "10": 10.0}, ["0", "-1", "nan", "inf"]),
    (non_negative_float, {"0": 0.0, "0.2": 0.2}, ["-0.1", "nan"]),
    (seconds_or_forever, {"0": 0.0, "2.5": 2.5, "-1": -1.0}, ["-5", "-0.5", "nan", "inf"]),
])
def test_rules(rule, good, bad):
    for text, value in good.items():
        assert rule(text) == value
    for text in bad:
        with pytest.raises(argparse.ArgumentTypeError):
            rule(text)


@pytest.mark.parametrize("argv, message", [
    (["run", "--model", "b", "--source", "0", "--threads", "-3"], "argument --threads: must be an integer >= 0, got -3"),
    (["run", "--model", "b", "--source", "0", "--retry-for", "-5"], "argument --retry-for: must be seconds >= 0 or -1 (forever), got -5"),
    (["run", "--model", "b", "--source", "0", "--open-timeout", "0"], "argument --open-timeout: must be a finite number > 0"),
    (["run", "--model", "b", "--source", "0", "--iou", "1.5"], "argument --iou: must be in [0, 1]"),
    (["train", "--mosaic", "5"], "argument --mosaic: must be in [0, 1], got 5"),
    (["train", "--close-mosaic", "-2"], "argument --close-mosaic: must be an integer >= 0, got -2"),
    (["train", "--close-hsv", "-1"], "argument --close-hsv: must be an integer >= 0, got -1"),
    (["train", "--lr0", "-1"], "argument --lr0: must be a finite number > 0, got -1"),
    (["train", "--lr0", "nan"], "argument --lr0: expected a finite number, got 'nan'"),
    (["train", "--epochs", "0"], "argument --epochs: must be an integer >= 1, got 0"),
    (["val", "--weights", "w.pt", "--data", "synthetic", "--batch", "0"], "argument --batch: must be an integer >= 1, got 0"),
    (["val", "--weights", "w.pt", "--data", "synthetic", "--threads", "-1"], "argument --threads: must be an integer >= 0"),
    (["bench", "esmoe-pico", "--warmup", "-1"], "argument --warmup: must be an integer >= 0, got -1"),
    (["bench", "esmoe-pico", "--threads", "-1"], "argument --threads: must be an integer >= 0"),
    (["export", "--model", "esmoe-pico", "--out", "b", "--parity-images", "0"], "argument --parity-images: must be an integer >= 1"),
    (["info", "esmoe-pico", "--imgsz", "-32"], "argument --imgsz: must be an integer >= 1"),
])
def test_commands_agree_and_answer_in_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and err.startswith(f"edge-moe {argv[0]}: error:")


@pytest.mark.parametrize("command, options", [
    ("run", ["--conf", "--iou", "--retry-for", "--open-timeout", "--read-timeout", "--max-det"]),
    ("train", ["--epochs", "--batch", "--imgsz", "--mosaic", "--close-mosaic", "--out"]),
    ("val", ["--batch"]),
])
def test_help_shows_the_defaults(command, options, capsys):
    assert main([command, "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for option in options:
        assert option in text
        after = text.split(option, 2)[-1][:300]
        assert "default" in after, (option, after)


def test_lr0_rule_holds_for_python_callers_too():
    from edge_moe.errors import UserError
    from edge_moe.trainers import TrainConfig

    with pytest.raises(UserError, match="--lr0 must be a finite number > 0"):
        TrainConfig(lr0=math.nan)
