"""edge_moe.trainers: training loops, assigners, losses and checkpoints (needs torch).

``train(model="esmoe-pico-shared", data="synthetic", epochs=..., out=...) -> TrainResult`` and
``evaluate(model, source, imgsz) -> EvalResult`` are the entry points.
"""
from edge_moe.trainers.config import TrainConfig
from edge_moe.trainers.schedules import DEMO, PICO_10MIN
from edge_moe.trainers.trainer import TrainResult, train
from edge_moe.trainers.validator import EvalResult, evaluate, format_result

__all__ = ["DEMO", "PICO_10MIN", "EvalResult", "TrainConfig", "TrainResult", "evaluate", "format_result", "train"]
