"""The model zoo as plain data, so ``edge-moe models`` answers on a runtime-only install (no torch).

Generated from ``edge_moe.models.registry.describe_models()``; tests/commands/test_installs.py fails when
the two disagree (a model added or changed): regenerate with ``python -m edge_moe.zoo``.
"""
from __future__ import annotations

ZOO: list[dict] = [
    {'name': 'esmoe-pico', 'task': 'detect', 'imgsz': 256, 'experts': 4, 'top_k': 2, 'description': 'Tiny ES-MoE detector that trains on a 2-core CPU in minutes (3 classes, 256 px by default).'},
    {'name': 'esmoe-n', 'task': 'detect', 'imgsz': 640, 'experts': 4, 'top_k': 2, 'description': 'Mirrors YOLO-Master-N: E=4, K=2 depthwise-separable experts after P2..P5.'},
    {'name': 'esmoe-s', 'task': 'detect', 'imgsz': 640, 'experts': 4, 'top_k': 2, 'description': 'Small ES-MoE detector (twice the nano widths).'},
    {'name': 'esmoe-n-e8', 'task': 'detect', 'imgsz': 640, 'experts': 8, 'top_k': 2, 'description': 'Capacity preset: E=8 bottleneck experts after P3..P5 carry most of the compute, K=2 run.'},
    {'name': 'esmoe-pico-e8', 'task': 'detect', 'imgsz': 256, 'experts': 8, 'top_k': 2, 'description': "Capacity preset at pico scale: E=8 experts of yolo-pico's kernel sizes (3/5), K=2 run: its active GFLOPs, more parameters."},
    {'name': 'esmoe-pico-shared', 'task': 'detect', 'imgsz': 256, 'experts': 4, 'top_k': 1, 'description': 'The default model: esmoe-pico with one always-on expert (kernel 3) next to K=1 of its 4 routed experts (3/5/7/9).'},
    {'name': 'yolo-pico', 'task': 'detect', 'imgsz': 256, 'experts': 0, 'top_k': 0, 'description': 'Dense baseline of esmoe-pico: its ES-MoE blocks with K experts always on.'},
    {'name': 'yolo-n', 'task': 'detect', 'imgsz': 640, 'experts': 0, 'top_k': 0, 'description': 'Dense baseline of esmoe-n: its ES-MoE blocks with K experts always on.'},
    {'name': 'yolo-s', 'task': 'detect', 'imgsz': 640, 'experts': 0, 'top_k': 0, 'description': 'Dense baseline of esmoe-s: its ES-MoE blocks with K experts always on.'},
    {'name': 'xray-moe', 'task': 'classify', 'imgsz': 384, 'experts': 10, 'top_k': 3, 'description': 'MoE X-ray classifier as in its paper: ConvNeXt-XXLarge stages 0-1 + frozen ResNet18 branch, E=10, K=3.'},
    {'name': 'xray-dense', 'task': 'classify', 'imgsz': 384, 'experts': 0, 'top_k': 0, 'description': 'Dense twin of xray-moe: the same ConvNeXt trunk, no MoE branch.'},
    {'name': 'xray-moe-pico', 'task': 'classify', 'imgsz': 96, 'experts': 4, 'top_k': 2, 'description': 'Tiny MoE X-ray classifier for a 2-core CPU (widths 32/64, E=4, K=2, 96 px).'},
    {'name': 'xray-dense-pico', 'task': 'classify', 'imgsz': 96, 'experts': 0, 'top_k': 0, 'description': 'Dense twin of xray-moe-pico: the same trunk, no MoE branch.'},
    {'name': 'yolo-moe-pico', 'task': 'detect', 'imgsz': 256, 'experts': 2, 'top_k': 2, 'description': "YOLO-MoE (arXiv 2511.13344) of 2 yolo-pico experts, the paper's Hadamard-fusion router over their heads."},
    {'name': 'yolo-moe-pico-early', 'task': 'detect', 'imgsz': 256, 'experts': 2, 'top_k': 2, 'description': 'yolo-moe-pico with a cheap stem router: an unchosen expert detector is skipped whole.'},
    {'name': 'yolo-moe-n', 'task': 'detect', 'imgsz': 640, 'experts': 2, 'top_k': 2, 'description': "YOLO-MoE (arXiv 2511.13344) of 2 yolo-n experts, the paper's Hadamard-fusion router over their heads."},
    {'name': 'yolo-moe-n-early', 'task': 'detect', 'imgsz': 640, 'experts': 2, 'top_k': 2, 'description': 'yolo-moe-n with a cheap stem router: an unchosen expert detector is skipped whole.'},
]

if __name__ == "__main__":  # rewrites this file from the registry (needs torch)
    from pathlib import Path

    from edge_moe.models.registry import describe_models

    path = Path(__file__)
    text = path.read_text()
    head, tail = text.split("ZOO: list[dict] = [\n", 1)
    rows = "".join(f"    {row!r},\n" for row in describe_models())
    path.write_text(head + "ZOO: list[dict] = [\n" + rows + "]\n" + tail.split("]\n", 1)[1])
