"""Detections on raw BGR frames with a torch model (hard top-K), e.g. to annotate a demo video.

The deployed path is the torch-free runtime on an exported bundle; this is the training-side
equivalent for checking a checkpoint by eye.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from edge_moe.data.augment import letterbox
from edge_moe.trainers.validator import postprocess


@dataclass
class FrameDetections:
    boxes: np.ndarray  # (D, 4) xyxy pixels of the original frame
    scores: np.ndarray  # (D,)
    classes: np.ndarray  # (D,) int
    experts: dict[str, list[int]]  # MoE layer -> expert ids that ran for this frame


@torch.no_grad()
def predict_frames(model: nn.Module, frames: list[np.ndarray], imgsz: int | None = None, conf: float = 0.25, iou: float = 0.7, max_det: int = 300) -> list[FrameDetections]:
    """Runs ``model`` (eval mode: only the K selected experts execute) on BGR uint8 frames, one at a time."""
    model.eval()
    imgsz = imgsz or model.config.imgsz
    device = next(model.parameters()).device
    results = []
    for frame in frames:
        image, ratio, (px, py) = letterbox(frame, imgsz)
        x = torch.from_numpy(np.ascontiguousarray(image[..., ::-1].transpose(2, 0, 1))).to(device)[None].float() / 255.0  # (1, 3, S, S)
        outputs, routings = model(x)
        boxes, scores = model.decode(outputs)
        box, score, cls = (t.cpu() for t in postprocess(boxes[0], scores[0], conf, iou, max_det))
        h, w = frame.shape[:2]
        box = (box - torch.tensor([px, py, px, py])) / ratio
        box[:, [0, 2]] = box[:, [0, 2]].clamp(0, w)
        box[:, [1, 3]] = box[:, [1, 3]].clamp(0, h)
        experts = {r.layer: r.ids[0].tolist() for r in routings}
        results.append(FrameDetections(box.numpy(), score.numpy(), cls.numpy(), experts))
    return results
