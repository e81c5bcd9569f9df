"""Classification metrics (numpy): accuracy, per-class precision / recall / F1, macro-F1, confusion matrix."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """(C, C) counts: row = true class, column = predicted class."""
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (truth.astype(np.int64), predicted.astype(np.int64)), 1)
    return matrix


def classification_metrics(matrix: np.ndarray, names: Sequence[str]) -> dict[str, Any]:
    """``accuracy``, ``f1_macro`` (the paper's metrics) and per class ``precision``, ``recall``, ``f1``, ``support``.

    A class never predicted has precision 0, one never present recall 0 (as scikit-learn's zero_division=0).
    """
    tp = np.diag(matrix).astype(np.float64)
    predicted, support = matrix.sum(axis=0), matrix.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(tp), where=total > 0)
    return {
        "accuracy": float(tp.sum() / max(matrix.sum(), 1)),
        "f1_macro": float(f1.mean()) if len(f1) else 0.0,
        "per_class": [
            {"class": name, "precision": round(float(p), 5), "recall": round(float(r), 5), "f1": round(float(f), 5), "support": int(s)}
            for name, p, r, f, s in zip(names, precision, recall, f1, support)
        ],
    }


def plot_confusion_matrix(matrix: np.ndarray, names: Sequence[str], path, title: str = "confusion matrix"):
    """Row-normalised confusion matrix as a PNG (counts in the cells), written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from edge_moe.runtime.sinks.atomic import atomic_write

    rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.6 * len(names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set(xticks=range(len(names)), yticks=range(len(names)), xlabel="predicted", ylabel="true", title=title)
    ax.set_xticklabels(names, rotation=45, ha="right")
    ax.set_yticklabels(names)
    if len(names) <= 30:
        for (i, j), count in np.ndenumerate(matrix):
            ax.text(j, i, str(count), ha="center", va="center", color="white" if rates[i, j] > 0.5 else "black", fontsize=8)
    path = atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight"))
    plt.close(fig)
    return path
