"""Named training schedules for the pico models on the synthetic set (2-core CPU budgets).

``PICO_10MIN`` is the README/benchmark schedule (the default model reaches mAP@0.5 >= 0.5 well within 10
minutes) and equals ``edge-moe train --data synthetic --epochs 8 --imgsz 256 --batch 16 --threads 1``.
``DEMO`` is what ``make demo`` runs (1000 images, 5 epochs: 141 s of training on the quiet 2-core CPU, val mAP@0.5 0.659).
One torch thread: on a 2-core box shared with other work, two OpenMP threads slow training several-fold.
"""
from __future__ import annotations

from edge_moe.trainers.config import TrainConfig

PICO_10MIN = TrainConfig(data="synthetic", epochs=8, imgsz=256, batch=16, threads=1)

DEMO = TrainConfig(data="synthetic:n=1000,val=100", epochs=5, imgsz=256, batch=16, threads=1)
