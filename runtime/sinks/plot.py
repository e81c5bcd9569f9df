"""A PNG of expert activation over time: per MoE layer, expert x frame, coloured by routing weight."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from edge_moe.errors import UserError
from edge_moe.runtime.results import FrameResult
from edge_moe.runtime.sinks.annotate import short_name
from edge_moe.runtime.sinks.atomic import atomic_write

CHUNK = 1024


class ExpertTimeline:
    """Collects each frame's routing weights (0 where an expert did not run) in chunks of float16."""

    def __init__(self, layers: Sequence[tuple[str, int]]):
        self.layers = list(layers)
        self.offsets = np.cumsum([0] + [e for _, e in self.layers])
        self.chunks: list[np.ndarray] = []
        self.frames: list[np.ndarray] = []
        self.count = 0

    def write(self, result: FrameResult) -> None:
        if self.count % CHUNK == 0:
            self.chunks.append(np.zeros((CHUNK, int(self.offsets[-1])), np.float16))
            self.frames.append(np.zeros(CHUNK, np.int64))
        row = self.chunks[-1][self.count % CHUNK]
        by_layer = {e.layer: e for e in result.experts}
        for i, (name, _) in enumerate(self.layers):
            if name in by_layer:
                row[self.offsets[i] + by_layer[name].ids] = by_layer[name].weights
        self.frames[-1][self.count % CHUNK] = result.frame_index
        self.count += 1

    def matrix(self) -> tuple[np.ndarray, np.ndarray]:
        """(frames (T,), weights (T, sum E))."""
        if not self.count:
            return np.zeros(0, np.int64), np.zeros((0, int(self.offsets[-1])), np.float32)
        return np.concatenate(self.frames)[: self.count], np.concatenate(self.chunks)[: self.count].astype(np.float32)

    def save_png(self, path: str | Path, title: str = "expert activation") -> Path:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            raise UserError("the expert-activation plot needs matplotlib: pip install 'edge-moe[runtime]'") from None
        if not self.layers:
            raise UserError("this model has no MoE layers: there is no expert activation to plot")
        path = Path(path)
        frames, weights = self.matrix()
        n = len(self.layers)
        fig, axes = plt.subplots(n, 2, figsize=(11, 1.2 + 1.2 * n), squeeze=False, sharex="col", constrained_layout=True,
                                 gridspec_kw={"width_ratios": [5, 1]})
        extent_x = (frames[0] - 0.5, frames[-1] + 0.5) if len(frames) else (0, 1)
        for i, (name, experts) in enumerate(self.layers):
            block = weights[:, self.offsets[i]: self.offsets[i + 1]].T  # (E, T)
            ax = axes[i][0]
            image = ax.imshow(block, aspect="auto", interpolation="nearest", cmap="magma", vmin=0, vmax=1,
                              extent=(*extent_x, experts - 0.5, -0.5))
            ax.set_yticks(range(experts))
            ax.set_yticklabels([f"e{e}" for e in range(experts)], fontsize=7)
            ax.set_ylabel(short_name(name, [n for n, _ in self.layers]), fontsize=8)
            if i == n - 1:
                ax.set_xlabel("frame")
            share = (block > 0).mean(axis=1) if block.size else np.zeros(experts)
            bars = axes[i][1]
            bars.barh(range(experts), share, color="#e8833a")
            bars.set_xlim(0, 1)
            bars.set_ylim(experts - 0.5, -0.5)
            bars.set_yticks([])
            bars.tick_params(labelsize=7)
            if i == 0:
                bars.set_title("share of frames", fontsize=8)
        fig.colorbar(image, ax=[a[0] for a in axes], fraction=0.015, pad=0.01, label="routing weight")
        fig.suptitle(f"{title} ({self.count} frames)", fontsize=10)
        try:
            atomic_write(path, lambda temp: fig.savefig(temp, dpi=110, format="png"))
        finally:
            plt.close(fig)
        return path
