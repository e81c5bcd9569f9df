"""`make demo`: what edge-moe does, end to end, on the embedded defaults (CPU, no downloads)."""
from __future__ import annotations

import torch

from edge_moe.commands.info import format_info, model_info
from edge_moe.models import create_model


def main() -> None:
    torch.manual_seed(0)
    model = create_model("esmoe-n").eval()
    print(format_info(model_info(model)))
    frame = torch.rand(1, 3, model.config.imgsz, model.config.imgsz)  # (1, 3, 640, 640)
    with torch.no_grad():
        _, routings = model(frame)
    print("\nexperts chosen for one frame (hard top-K, only these ran):")
    for routing in routings:
        ids = routing.ids[0].tolist()
        weights = [round(w, 3) for w in routing.weights[0].tolist()]
        print(f"  {routing.layer:<20} ids={ids} weights={weights}")


if __name__ == "__main__":
    main()
