"""Routing health: how each MoE layer spreads images over its experts, and loud warnings when it fails.

Two failure modes matter in practice. *Collapse*: (nearly) every image goes to the same experts
(public YOLO-Master checkpoints route every COCO image to the same two), so the other experts are
dead weight. *Indecision*: the router's probabilities stay ~uniform, so the top-K choice hangs on tiny
logit margins (fragile under FP16/INT8) and the selected experts are mixed with ~equal weights.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Optional

import numpy as np

COLLAPSE_SHARE = 0.9  # one expert set taking this share of images is a collapse
DEAD_SHARE = 0.02  # an expert getting less than this share of the top-K slots is dead
UNDECIDED_ENTROPY = 0.97  # mean normalised per-image router entropy above this is indecision


@dataclass
class LayerUsage:
    """Top-K selections of one MoE layer over a set of images."""

    layer: str
    ids: np.ndarray  # (N, K) selected expert ids
    probs: np.ndarray  # (N, E) router probabilities

    @property
    def experts(self) -> int:
        return self.probs.shape[1]

    @property
    def selected(self) -> np.ndarray:
        """(N, K) ids, or the top-1 column when K = E (a soft ensemble: every expert is always in the top-K,
        so the choice that matters is the one a K' = 1 deployment makes)."""
        return self.ids[:, :1] if self.ids.ndim == 2 and self.ids.shape[1] == self.experts > 1 else self.ids

    @property
    def share(self) -> np.ndarray:
        """(E,) fraction of all top-K slots taken by each expert (sums to 1)."""
        counts = np.bincount(self.selected.reshape(-1), minlength=self.experts).astype(np.float64)
        return counts / max(counts.sum(), 1.0)

    @property
    def entropy(self) -> float:
        """Normalised entropy of :attr:`share`: 1 = all experts equally used, 0 = one expert."""
        p = self.share[self.share > 0]
        return float(-(p * np.log(p)).sum() / np.log(self.experts)) if self.experts > 1 else 0.0

    @property
    def router_entropy(self) -> float:
        """Mean normalised entropy of the per-image router probabilities (1 = undecided)."""
        p = np.clip(self.probs, 1e-12, 1.0)
        return float((-(p * np.log(p)).sum(axis=1) / np.log(self.experts)).mean()) if self.experts > 1 else 0.0

    def top_set(self) -> tuple[tuple[int, ...], float]:
        """The most frequent set of selected experts and the share of images that use it."""
        if len(self.ids) == 0:
            return (), 0.0
        counts = Counter(tuple(sorted(row)) for row in self.selected.tolist())
        chosen, count = counts.most_common(1)[0]
        return chosen, count / len(self.ids)

    def summary(self) -> dict:
        chosen, share = self.top_set()
        return {
            "layer": self.layer,
            "share": [round(float(v), 4) for v in self.share],
            "entropy": round(self.entropy, 4),
            "router_entropy": round(self.router_entropy, 4),
            "top_set": list(chosen),
            "top_set_share": round(share, 4),
        }


def health_warnings(usages: list[LayerUsage]) -> list[str]:
    """One line per unhealthy layer (empty when routing is healthy)."""
    warnings = []
    for usage in usages:
        if len(usage.ids) == 0:
            continue
        chosen, set_share = usage.top_set()
        dead = [e for e, s in enumerate(usage.share) if s < DEAD_SHARE]
        if set_share >= COLLAPSE_SHARE or usage.share.max() >= COLLAPSE_SHARE:
            warnings.append(
                f"{usage.layer}: ROUTING COLLAPSED - {set_share:.0%} of images use experts {list(chosen)}"
                f"{f'; experts {dead} are dead' if dead else ''}"
            )
        elif dead:
            warnings.append(f"{usage.layer}: experts {dead} are (almost) never selected (share < {DEAD_SHARE:.0%})")
        if usage.router_entropy >= UNDECIDED_ENTROPY:
            warnings.append(
                f"{usage.layer}: ROUTING UNIFORM - router probabilities are ~uniform (mean entropy {usage.router_entropy:.2f}): "
                "each image's top-K hangs on tiny logit margins and the K experts get ~equal weights (weak specialisation)"
            )
    return warnings


def specialisation(by_regime: dict[str, list[LayerUsage]]) -> dict[str, float]:
    """Per layer, total-variation distance between the expert shares of two regimes (0 = same use, 1 = disjoint)."""
    names = sorted(by_regime)
    if len(names) < 2:
        return {}
    a, b = by_regime[names[0]], by_regime[names[1]]
    return {ua.layer: round(float(0.5 * np.abs(ua.share - ub.share).sum()), 4) for ua, ub in zip(a, b)}


def format_usage(usages: list[LayerUsage], title: Optional[str] = None) -> str:
    """A small text table: per layer, share of top-K slots per expert and the usage entropy."""
    lines = [title] if title else []
    for usage in usages:
        bars = " ".join(f"e{e}:{s:5.1%}" for e, s in enumerate(usage.share))
        lines.append(f"  {usage.layer:<18} {bars}  entropy={usage.entropy:.2f} router_entropy={usage.router_entropy:.2f}")
    return "\n".join(lines)
