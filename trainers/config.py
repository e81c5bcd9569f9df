"""Training options: one frozen dataclass, stored in ``last.pt`` so ``--resume`` needs nothing else."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Optional, Sequence

from edge_moe.data.augment import AugmentConfig
from edge_moe.errors import UserError
from edge_moe.models.config import check_imgsz
from edge_moe.moe.losses import BALANCE_LOSSES

ROUTER_TRAINING = ("balance_loss", "z_loss", "router_warmup")  # options only the routed MoE detectors use


@dataclass(frozen=True)
class TrainConfig:
    model: str = "esmoe-pico-shared"
    data: str = "synthetic"
    epochs: int = 30
    imgsz: int = 256
    batch: int = 16
    device: str = "cpu"
    out: str = "runs/train"
    optimizer: str = "adamw"  # adamw | sgd (use lr0=0.01 with sgd)
    lr0: float = 0.002
    lrf: float = 0.01  # final lr = lr0 * lrf (cosine)
    momentum: float = 0.937
    weight_decay: float = 5e-4
    warmup_epochs: float = 1.0
    moe_coef: float = 0.2  # MoE balance-loss coefficient (YOLO-Master: 0.15-0.3)
    balance_loss: str = "auto"  # auto | switch | cv2 | mi | none (auto: edge_moe.moe.losses.auto_balance_loss)
    z_loss: Optional[float] = None  # router z-loss weight in the MoE loss; None: edge_moe.moe.losses.default_z_loss
    moe_options: dict[str, Any] = field(default_factory=dict)  # MoEConfig overrides of the zoo model (router remedies)
    router_lr_mult: float = 10.0  # routers learn this much faster (see trainers/optim.py)
    router_lr_settle: int = 0  # > 0: from this epoch on (1-based) the routers learn at the base rate: found early, the split holds
    router_warmup: float = 1.0  # epochs of dense-to-sparse training: all experts mixed in, fading linearly to top-K
    use_dfl: bool = True  # distribution focal loss on the box branch (model config)
    close_mosaic: int = 2  # mosaic off for the last N epochs
    close_hsv: int = 2  # HSV colour jitter off for the last N epochs: they train on the colours validation shows
    clip_grad: float = 10.0
    ema_tau: float = 2000.0
    precise_bn: int = 160  # training images whose BatchNorm statistics replace the running ones before each validation (0: off)
    workers: int = 1
    threads: int = 0  # torch intra-op threads; 0 keeps torch's default (one per core)
    seed: int = 0
    amp: bool = True  # CUDA only
    sync_bn: bool = False  # SyncBatchNorm across the processes of a distributed run (CUDA only)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    experts: tuple[str, ...] = ()  # expert checkpoints of a yolo-moe ensemble (A.pt, B.pt, ...)
    freeze_experts: bool = True  # the paper's recipe: experts frozen, only the router trains

    def __post_init__(self) -> None:
        for key in ("epochs", "imgsz", "batch"):
            value = getattr(self, key)
            if not isinstance(value, int) or value < 1:
                raise UserError(f"--{key} must be a positive integer, got {value!r}")
        check_imgsz(self.imgsz, name="--imgsz")
        if self.optimizer not in ("sgd", "adamw"):
            raise UserError(f"--optimizer must be 'sgd' or 'adamw', got {self.optimizer!r}")
        if self.workers < 0:
            raise UserError(f"--workers must be >= 0, got {self.workers}")
        if not (math.isfinite(self.lr0) and self.lr0 > 0):
            raise UserError(f"--lr0 must be a finite number > 0, got {self.lr0}")
        if self.close_mosaic < 0:
            raise UserError(f"--close-mosaic must be an integer >= 0, got {self.close_mosaic}")
        if self.close_hsv < 0:
            raise UserError(f"--close-hsv must be an integer >= 0, got {self.close_hsv}")
        if not 0 <= self.augment.mosaic <= 1:
            raise UserError(f"--mosaic must be in [0, 1], got {self.augment.mosaic}")
        if not 0 <= self.moe_coef <= 10:
            raise UserError(f"--moe-coef must be in [0, 10], got {self.moe_coef}")
        if self.balance_loss not in BALANCE_LOSSES:
            raise UserError(f"--balance-loss must be one of {', '.join(BALANCE_LOSSES)}, got {self.balance_loss!r}")
        if not isinstance(self.router_lr_settle, int) or isinstance(self.router_lr_settle, bool) or self.router_lr_settle < 0:
            raise UserError(f"--router-lr-settle must be an epoch number >= 0 (0: never), got {self.router_lr_settle!r}")
        if not (math.isfinite(self.router_warmup) and 0 <= self.router_warmup <= self.epochs):
            raise UserError(f"--router-warmup must be in [0, --epochs ({self.epochs})] epochs, got {self.router_warmup}")
        if not isinstance(self.precise_bn, int) or self.precise_bn < 0:
            raise UserError(f"--precise-bn must be an integer >= 0 (training images; 0: off), got {self.precise_bn!r}")
        if self.z_loss is not None and not self.z_loss >= 0:
            raise UserError(f"--z-loss must be >= 0, got {self.z_loss}")

    def refuse_unused(self, names: Sequence[str], why: str) -> None:
        """One-line error for each named option set away from its default that this run would ignore (``why``)."""
        defaults = {f.name: f.default for f in fields(self)}
        for name in names:
            if getattr(self, name) != defaults[name]:
                raise UserError(f"--{name.replace('_', '-')} {getattr(self, name)}: {self.model} {why}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values.setdefault("close_hsv", 0)  # saved before the option existed: those runs jittered to the end
        if isinstance(values.get("experts"), list):
            values["experts"] = tuple(values["experts"])
        if isinstance(values.get("augment"), dict):
            values["augment"] = AugmentConfig(**values["augment"])
        return cls(**values)
