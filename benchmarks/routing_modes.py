"""Diagnosis (not a test): does a checkpoint route the same in training as in eval?

    .venv/bin/python benchmarks/routing_modes.py RUN/weights/last.pt DATA [--batches 15] [--imgsz 256]

Prints each MoE layer's selection bias and its experts' shares of the top-K slots for the shipped (EMA) weights and
the live training weights of a ``last.pt``, each in train mode (BatchNorm batch statistics, as the bias saw them) and
in eval (running statistics, as validation and the runtime see them), on augmented and on plain training images.
An expert at 0 in every column is dead in training too; one at 0 only in eval is hidden by the statistics.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch
from torch.utils.data import DataLoader

from edge_moe.checkpoint import load_checkpoint, model_from_checkpoint
from edge_moe.data.augment import AugmentConfig
from edge_moe.data.loader import TrainDataset, collate_train
from edge_moe.data.spec import load_data
from edge_moe.metrics.routing import LayerUsage
from edge_moe.moe import moe_layers


@torch.no_grad()
def expert_shares(model: torch.nn.Module, loader: DataLoader, batches: int) -> dict[str, np.ndarray]:
    """Share of the top-K slots per expert and layer over ``batches`` batches of ``loader`` (:attr:`LayerUsage.share`)."""
    ids: dict[str, list[np.ndarray]] = {}
    probs: dict[str, list[np.ndarray]] = {}
    for step, (images, _) in enumerate(loader):
        if step == batches:
            break
        _, routings = model(images.float() / 255.0)  # (B, 3, S, S) in [0, 1]
        for routing in routings:
            ids.setdefault(routing.layer, []).append(routing.ids.numpy())
            probs.setdefault(routing.layer, []).append(routing.probs.numpy())
    return {layer: LayerUsage(layer, np.concatenate(ids[layer]), np.concatenate(probs[layer])).share for layer in ids}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a last.pt (it holds both the EMA and the live weights)")
    parser.add_argument("data", help="the data spec the run trained on, e.g. synthetic:n=1000,val=100")
    parser.add_argument("--batches", type=int, default=15, help="batches of 16 training images per column")
    parser.add_argument("--imgsz", type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(1)
    payload = load_checkpoint(args.checkpoint)
    live = payload.get("train_state", {}).get("model")
    if live is None:
        parser.error(f"{args.checkpoint}: no live weights (train_state.model); pass a last.pt written by training")
    model, _ = model_from_checkpoint(args.checkpoint)
    for layer in moe_layers(model):
        bias = getattr(layer.router, "selection_bias", None)
        print(f"{layer.name}: selection bias {[round(b, 2) for b in bias.tolist()] if bias is not None else 'none'}")
    source = load_data(args.data, splits=("train",)).split("train")
    images = {"augmented": AugmentConfig(), "plain": AugmentConfig(hsv_h=0, hsv_s=0, hsv_v=0, flip_lr=0, translate=0, scale=0, mosaic=0)}
    for weights_name, weights in (("ema", payload["state_dict"]), ("live", live)):
        for images_name, augment in images.items():
            dataset = TrainDataset(source, args.imgsz, augment, seed=0)
            dataset.set_epoch(0, mosaic_on=False)
            for mode in ("train", "eval"):
                model.load_state_dict(weights)  # train mode moves the BatchNorm running statistics: start each column afresh
                model.train(mode == "train")
                loader = DataLoader(dataset, batch_size=16, shuffle=True, collate_fn=collate_train,
                                    generator=torch.Generator().manual_seed(0))  # the same images in every column
                shares = expert_shares(model, loader, args.batches)
                cells = "  ".join(f"{layer.split('.')[-1]} {' '.join(f'{s:.2f}' for s in share)}" for layer, share in shares.items())
                print(f"{weights_name:4s} {images_name:9s} {mode:5s}  {cells}")


if __name__ == "__main__":
    main()
