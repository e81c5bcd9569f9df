import math

import pytest
import torch

from edge_moe.models import create_model
from edge_moe.trainers.boxes import ciou
from edge_moe.trainers.loss import DetectionLoss, dfl_loss, pad_targets


def test_ciou_hand_made_cases():
    a = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    assert ciou(a, a).item() == pytest.approx(1.0, abs=1e-6)
    # Same size, shifted by 5 px: IoU 50/150, centre distance^2 25, enclosing diagonal^2 15^2 + 10^2.
    b = torch.tensor([[5.0, 0.0, 15.0, 10.0]])
    assert ciou(a, b).item() == pytest.approx(1 / 3 - 25 / 325, abs=1e-6)
    # Concentric, aspect ratios 1 and 2: IoU 0.5, no distance term, v = 4/pi^2 (atan 2 - atan 1)^2.
    c = torch.tensor([[0.0, -5.0, 10.0, 15.0]])
    v = 4 / math.pi**2 * (math.atan(0.5) - math.atan(1.0)) ** 2
    alpha = v / (v - 0.5 + 1)
    assert ciou(a, c).item() == pytest.approx(0.5 - alpha * v, abs=1e-6)


def test_dfl_is_minimal_at_the_target():
    target = torch.tensor([[2.25, 0.0, 5.5, 14.0]])
    logits = torch.full((1, 4, 16), -20.0)
    for side, t in enumerate(target[0].tolist()):
        lo = int(t)
        logits[0, side, lo] = math.log(lo + 1 - t + 1e-9)
        logits[0, side, min(lo + 1, 15)] = math.log(t - lo + 1e-9)
    best = dfl_loss(logits, target)
    worse = dfl_loss(torch.zeros(1, 4, 16), target)
    assert (best < worse).all()


def test_pad_targets():
    targets = torch.tensor([[0, 1, 0, 0, 4, 4], [2, 0, 1, 1, 3, 3], [2, 2, 5, 5, 9, 9.0]])
    classes, boxes, mask = pad_targets(targets, 3)
    assert mask.tolist() == [[True, False], [False, False], [True, True]]
    assert classes[2].tolist() == [0, 2] and boxes[0, 0].tolist() == [0, 0, 4, 4]


def test_loss_decreases_on_one_batch_and_has_every_term():
    torch.manual_seed(0)
    model = create_model("esmoe-pico", imgsz=64).train()
    criterion = DetectionLoss(model.head)
    images = torch.rand(2, 3, 64, 64)
    targets = torch.tensor([[0, 1, 8, 8, 40, 40], [1, 2, 30, 20, 60, 50.0]])
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(15):
        outputs, routings = model(images)
        loss, parts = criterion(outputs, routings, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        first = first if first is not None else (loss.item(), parts)
    assert all(first[1][k] > 0 for k in ("box", "cls", "dfl", "moe"))
    assert loss.item() < 0.5 * first[0]


def test_no_dfl_model_and_empty_targets():
    model = create_model("yolo-pico", imgsz=64, use_dfl=False).train()
    outputs, routings = model(torch.rand(2, 3, 64, 64))
    loss, parts = DetectionLoss(model.head)(outputs, routings, torch.zeros((0, 6)))
    assert parts["box"] == 0 and parts["dfl"] == 0 and parts["moe"] == 0 and loss.item() > 0
    loss.backward()
