"""PNG plots of a training run: losses, validation metrics, expert usage per MoE layer over epochs."""
from __future__ import annotations

from pathlib import Path

from edge_moe.checkpoint import atomic_write


def _save(fig, path: Path) -> None:
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight"))


DETECTION_LOSSES = ("box", "cls", "dfl", "moe")
DETECTION_METRICS = (("map50", "mAP@0.5"), ("map50_95", "mAP@0.5:0.95"), ("ar100", "AR@100"))


def plot_history(history: list[dict], out: Path, losses: tuple[str, ...] = DETECTION_LOSSES,
                 metrics: tuple[tuple[str, str], ...] = DETECTION_METRICS) -> list[Path]:
    """Writes losses.png, metrics.png and (for MoE models) expert_usage.png; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not history:
        return []
    epochs = [row["epoch"] for row in history]
    written = []

    fig, ax = plt.subplots(figsize=(6, 4))
    for key in losses:
        if any(row.get(key) for row in history):
            ax.plot(epochs, [row[key] for row in history], marker="o", ms=3, label=key)
    ax.set(xlabel="epoch", ylabel="training loss terms (before gains)", title="losses")
    ax.legend()
    ax.grid(alpha=0.3)
    _save(fig, out / "losses.png")
    plt.close(fig)
    written.append(out / "losses.png")

    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in metrics:
        ax.plot(epochs, [row[key] for row in history], marker="o", ms=3, label=label)
    ax.set(xlabel="epoch", ylabel="validation (EMA weights, hard top-K)", title="metrics", ylim=(0, 1))
    ax.legend()
    ax.grid(alpha=0.3)
    _save(fig, out / "metrics.png")
    plt.close(fig)
    written.append(out / "metrics.png")

    layers = sorted({k.split(":")[1] for row in history for k in row if k.startswith("usage:")})
    if layers:
        fig, axes = plt.subplots(1, len(layers), figsize=(3.2 * len(layers), 3.2), squeeze=False)
        for ax, layer in zip(axes[0], layers):
            keys = sorted(k for k in history[-1] if k.startswith(f"usage:{layer}:"))
            for key in keys:
                ax.plot(epochs, [row.get(key, 0.0) for row in history], marker="o", ms=2, label=key.rsplit(":", 1)[1])
            ax.set(title=layer, xlabel="epoch", ylim=(0, 1))
            ax.grid(alpha=0.3)
        axes[0][0].set_ylabel("share of top-K slots (val)")
        axes[0][-1].legend(fontsize=7)
        fig.suptitle("expert usage per MoE layer (validation, hard top-K)", y=1.04)
        _save(fig, out / "expert_usage.png")
        plt.close(fig)
        written.append(out / "expert_usage.png")
    return written


def write_csv(history: list[dict], path: Path) -> None:
    """results.csv with one row per epoch (rewritten atomically each epoch)."""
    keys: list[str] = []
    for row in history:
        keys += [k for k in row if k not in keys]

    def write(tmp: Path) -> None:
        with open(tmp, "w") as handle:
            handle.write(",".join(keys) + "\n")
            for row in history:
                handle.write(",".join(_cell(row.get(k, "")) for k in keys) + "\n")

    atomic_write(path, write)


def _cell(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)
