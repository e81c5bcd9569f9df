"""Diagnosis (not a test): does a checkpoint route by what the image shows, or by the colour jitter of training?

    .venv/bin/python benchmarks/routing_invariance.py RUN/weights/best.pt DATA [--imgsz 256]

On the val images (eval mode, as validation and the runtime route), per MoE layer:
- ``TV regimes``: total-variation distance between the two scene regimes' expert shares (what the issue's goal asks);
- ``changed by jitter``: share of images whose first expert changes when the training's HSV jitter is applied to them
  (0: routing ignores colour; with E experts, routing at random changes 1 - 1/E of them), and each expert's share of
  the plain and of the jittered images (an expert of colour-shifted images has almost none of the plain ones);
- per router input (``gap``, ``gap+gmp``, ``spectrum``), computed on the same feature map the router pools: how well
  the two regimes separate (accuracy of a ridge-regularised linear read-out) and how far the jitter moves each image's
  batch-standardised input, in units of the spread between images (0: unmoved, 2: as if another image).
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from edge_moe.checkpoint import model_from_checkpoint
from edge_moe.data.augment import AugmentConfig, hsv_jitter, letterbox
from edge_moe.data.spec import load_data
from edge_moe.metrics.routing import LayerUsage, specialisation
from edge_moe.moe import moe_layers
from edge_moe.moe.router_inputs import router_input

INPUTS = ("gap", "gap+gmp", "spectrum")


@torch.no_grad()
def route(model: torch.nn.Module, frames: list[np.ndarray]) -> tuple[dict[str, LayerUsage], dict[str, torch.Tensor]]:
    """Routing of letterboxed BGR ``frames`` and the feature map each router pooled, per layer."""
    pooled: dict[str, torch.Tensor] = {}
    hooks = [layer.router.pool.register_forward_hook(lambda _, inputs, __, name=layer.name: pooled.__setitem__(name, inputs[0]))
             for layer in moe_layers(model)]
    images = torch.from_numpy(np.stack([f[..., ::-1].transpose(2, 0, 1) for f in frames]).copy()).float() / 255.0  # (N, 3, S, S)
    _, routings = model(images)
    for hook in hooks:
        hook.remove()
    return {r.layer: LayerUsage(r.layer, r.ids.numpy(), r.probs.numpy()) for r in routings}, pooled


def separability(features: np.ndarray, labels: np.ndarray) -> float:
    """Training accuracy of a ridge-regularised linear read-out of ``labels`` (bool, (N,)) from ``features`` (N, D)."""
    x = (features - features.mean(0)) / (features.std(0) + 1e-6)
    w = np.linalg.solve(x.T @ x + 10 * np.eye(x.shape[1]), x.T @ (labels * 2.0 - 1.0))
    return float(((x @ w > 0) == labels).mean())


def jitter_shift(plain: np.ndarray, jittered: np.ndarray) -> float:
    """Mean squared move of each image's input in units of the plain images' spread per feature (0..~2)."""
    return float((((plain - jittered) / (plain.std(0) + 1e-6)) ** 2).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("data", help="the data spec the run trained on, e.g. synthetic:n=1000,val=200")
    parser.add_argument("--imgsz", type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, _ = model_from_checkpoint(args.checkpoint)
    model.eval()
    source = load_data(args.data, splits=("val",)).split("val")
    if not source.regimes or len(set(source.regimes)) != 2:
        parser.error(f"{args.data}: the val images need two scene regimes (the synthetic and digits sets have them)")
    frames = [letterbox(source.image(i), args.imgsz)[0] for i in range(len(source))]
    augment, rng = AugmentConfig(), np.random.default_rng(0)
    jittered = [hsv_jitter(frame, rng, augment.hsv_h, augment.hsv_s, augment.hsv_v) for frame in frames]
    regimes = np.array(source.regimes)
    first = regimes == sorted(set(regimes))[0]
    plain_usage, plain_maps = route(model, frames)
    jittered_usage, jittered_maps = route(model, jittered)
    by_regime = {name: [LayerUsage(u.layer, u.ids[mask], u.probs[mask]) for u in plain_usage.values()]
                 for name, mask in (("a", first), ("b", ~first))}
    tv = specialisation(by_regime)
    for name, usage in plain_usage.items():
        changed = float((usage.ids[:, 0] != jittered_usage[name].ids[:, 0]).mean())
        cells = []
        for kind in INPUTS:
            pool, _ = router_input(kind, plain_maps[name].shape[1])
            a, b = pool(plain_maps[name]).flatten(1).numpy(), pool(jittered_maps[name]).flatten(1).numpy()  # (N, D)
            cells.append(f"{kind} sep {separability(a, ~first):.2f} moved {jitter_shift(a, b):.2f}")
        shares = " / ".join(" ".join(f"{v:.2f}" for v in u.share) for u in (usage, jittered_usage[name]))
        print(f"{name.split('.')[-1]}: TV regimes {tv[name]:.2f}  changed by jitter {changed:.2f}  shares plain / jittered "
              f"{shares}  |  " + "  |  ".join(cells))


if __name__ == "__main__":
    main()
