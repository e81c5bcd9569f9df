"""Typed, validated configuration of the detector family.

Validation happens here, at construction, so a bad value fails with the field's name and the
allowed range instead of deep inside a forward pass.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Optional

from edge_moe.errors import UserError

ExpertType = Literal["dwsep", "bottleneck"]
STRIDES = (8, 16, 32)
ROUTER_INPUTS = ("gap", "gap+gmp", "conv", "spectrum", "gap+gmp+spectrum")  # what an ES-MoE router sees (edge_moe.moe.router_inputs)


class ConfigError(UserError, ValueError):
    """A config value out of its range: a ValueError for Python callers, a one-line error for the CLI."""


def _positive(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"{name} must be a positive integer (>= 1), got {value!r}")


def check_imgsz(imgsz: Any, largest_stride: int = max(STRIDES), name: str = "imgsz") -> None:
    """The one input-size rule (model configs, train, val, info, export): a positive multiple of the largest stride."""
    _positive(name, imgsz)
    if imgsz % largest_stride:
        raise ConfigError(f"{name} must be a positive multiple of {largest_stride} (the largest stride), got {imgsz}")


EXPERT_INITS = ("independent", "shared")
BIAS_SCORES = ("standardised", "logits")


@dataclass(frozen=True)
class MoEConfig:
    """ES-MoE blocks: ``experts`` per block, ``top_k`` active per image, placed after the given stages.

    ``stages`` index the backbone stages P2..P5 as 2..5. ``kernel_sizes`` are cycled over the experts
    of ``dwsep`` type (YOLO-Master: 3/5/7/9). ``dense=True`` builds the same blocks without a router:
    the first ``top_k`` experts always on with equal weights (the dense baseline of equal compute).
    The ``router_*``, ``expert_dropout`` and ``bias_rate`` fields are the routing remedies of
    :class:`~edge_moe.moe.ImageRouter` (their defaults are the plain YOLO-Master router).
    """

    experts: int = 4
    top_k: int = 2
    expert_type: ExpertType = "dwsep"
    expert_expansion: float = 1.0  # ``bottleneck`` experts: hidden channels / channels
    stages: tuple[int, ...] = (2, 3, 4, 5)
    kernel_sizes: tuple[int, ...] = (3, 5, 7, 9)
    dense: bool = False
    router_input: str = "gap"  # one of ROUTER_INPUTS
    router_inputs: tuple[str, ...] = ()  # one of ROUTER_INPUTS per stage of ``stages``, in its order: overrides router_input
    router_norm: bool = False  # standardise the router input over the batch (BatchNorm)
    router_logit_norm: bool = False  # standardise each expert's logit over the batch (BatchNorm, no affine)
    router_detach: bool = False  # routers read the features without sending gradients back into the backbone
    router_temperature: float = 1.0
    router_jitter: float = 0.0  # selection noise std while training
    expert_dropout: float = 0.0  # chance of hiding an expert from the selection while training
    bias_rate: float = 0.0  # > 0: auxiliary-loss-free balancing bias, moved this much per step
    bias_scores: str = "standardised"  # what the bias is added to: standardised logits | logits (checkpoints before 2026-11-24)
    expert_init: str = "independent"  # independent | shared: every expert starts as the same function (upcycling-like)
    weight_floor: float = 0.0  # > 0: a selected expert's probability is raised to at least this before the top-K renormalisation
    shared_experts: int = 0  # always-on experts next to the routed ones (DeepSeekMoE)
    shared_kernel_sizes: tuple[int, ...] = ()  # the shared experts' own kernel sizes, cycled (empty: ``kernel_sizes``)

    def __post_init__(self) -> None:
        _positive("moe.experts", self.experts)
        _positive("moe.top_k", self.top_k)
        if self.top_k > self.experts:
            raise ConfigError(f"moe.top_k must be in [1, {self.experts}] (moe.experts), got {self.top_k}")
        if self.expert_type not in ("dwsep", "bottleneck"):
            raise ConfigError(f"moe.expert_type must be 'dwsep' or 'bottleneck', got {self.expert_type!r}")
        bad = [s for s in self.stages if s not in (2, 3, 4, 5)]
        if bad or len(set(self.stages)) != len(self.stages):
            raise ConfigError(f"moe.stages must be distinct values in 2..5, got {self.stages}")
        if not self.kernel_sizes or any(k <= 0 or k % 2 == 0 for k in self.kernel_sizes):
            raise ConfigError(f"moe.kernel_sizes must be odd positive integers, got {self.kernel_sizes}")
        if any(k <= 0 or k % 2 == 0 for k in self.shared_kernel_sizes):
            raise ConfigError(f"moe.shared_kernel_sizes must be odd positive integers, got {self.shared_kernel_sizes}")
        if self.router_input not in ROUTER_INPUTS:
            raise ConfigError(f"moe.router_input must be one of {', '.join(ROUTER_INPUTS)}, got {self.router_input!r}")
        if self.router_inputs and (len(self.router_inputs) != len(self.stages) or any(k not in ROUTER_INPUTS for k in self.router_inputs)):
            raise ConfigError(f"moe.router_inputs must name one of {', '.join(ROUTER_INPUTS)} for each of the stages {self.stages}, "
                              f"got {self.router_inputs!r}")
        if not 0 < self.expert_expansion <= 4:
            raise ConfigError(f"moe.expert_expansion must be in (0, 4], got {self.expert_expansion}")
        if not self.router_temperature > 0:
            raise ConfigError(f"moe.router_temperature must be > 0, got {self.router_temperature}")
        for name in ("router_jitter", "bias_rate"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"moe.{name} must be >= 0, got {getattr(self, name)}")
        if self.bias_scores not in BIAS_SCORES:
            raise ConfigError(f"moe.bias_scores must be one of {', '.join(BIAS_SCORES)}, got {self.bias_scores!r}")
        if self.expert_init not in EXPERT_INITS:
            raise ConfigError(f"moe.expert_init must be one of {', '.join(EXPERT_INITS)}, got {self.expert_init!r}")
        if not isinstance(self.shared_experts, int) or isinstance(self.shared_experts, bool) or self.shared_experts < 0:
            raise ConfigError(f"moe.shared_experts must be an integer >= 0, got {self.shared_experts!r}")
        if not 0 <= self.weight_floor <= 1:
            raise ConfigError(f"moe.weight_floor must be in [0, 1], got {self.weight_floor}")
        if not 0 <= self.expert_dropout < 1:
            raise ConfigError(f"moe.expert_dropout must be in [0, 1), got {self.expert_dropout}")

    def router_input_at(self, stage: int) -> str:
        """What the router of ``stage``'s block sees."""
        return self.router_inputs[self.stages.index(stage)] if self.router_inputs else self.router_input


@dataclass(frozen=True)
class DetectorConfig:
    """A YOLO-style anchor-free detector: CSP backbone + SPPF, PAN neck, decoupled head on P3-P5.

    ``widths`` are the channels of P1..P5, ``depths`` the bottleneck repeats of the C2f blocks of
    stages P2..P5 (the neck uses ``neck_depth``).
    """

    name: str
    num_classes: int = 80
    imgsz: int = 640
    widths: tuple[int, int, int, int, int] = (16, 32, 64, 128, 256)
    depths: tuple[int, int, int, int] = (1, 2, 2, 1)
    neck_depth: int = 1
    use_dfl: bool = True
    reg_max: int = 16
    moe: Optional[MoEConfig] = None
    task: str = "detect"
    strides: tuple[int, ...] = field(default=STRIDES)

    def __post_init__(self) -> None:
        _positive("num_classes", self.num_classes)
        check_imgsz(self.imgsz, max(self.strides))
        if len(self.widths) != 5:
            raise ConfigError(f"widths must have 5 entries (P1..P5 channels), got {self.widths}")
        if len(self.depths) != 4:
            raise ConfigError(f"depths must have 4 entries (P2..P5 repeats), got {self.depths}")
        for i, width in enumerate(self.widths):
            _positive(f"widths[{i}]", width)
        for i, depth in enumerate(self.depths):
            _positive(f"depths[{i}]", depth)
        _positive("neck_depth", self.neck_depth)
        _positive("reg_max", self.reg_max)
        if self.strides != STRIDES:
            raise ConfigError(f"strides must be {STRIDES} (P3-P5 heads), got {self.strides}")

    def to_dict(self) -> dict[str, Any]:
        """Plain types only, so a checkpoint loads with ``torch.load(weights_only=True)``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DetectorConfig":
        data = lists_as_tuples(data)
        moe = data.pop("moe", None)
        if moe is not None:
            moe = {"bias_scores": "logits", **moe}  # saved before the field existed: the bias went on the logits
            moe = MoEConfig(**lists_as_tuples(moe))
        return cls(moe=moe, **data)


def lists_as_tuples(values: dict[str, Any]) -> dict[str, Any]:
    """Config values as the frozen configs hold them: lists (from JSON, checkpoints or callers) become tuples."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
