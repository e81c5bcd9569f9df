"""`edge-moe train`: train a detector, checkpoint every epoch, print the final validation metrics."""
from __future__ import annotations

import argparse

from edge_moe.commands.values import non_negative_float, non_negative_int, positive_float, positive_int, probability
from edge_moe.errors import UserError

HELP = "train a detector or classifier (weights/last.pt + best.pt, results.csv, plots, routing health)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="esmoe-pico-shared", help="zoo name (see `edge-moe models`; default %(default)s)")
    parser.add_argument("--data", default="synthetic", help="synthetic[:n=1000,val=200,imgsz=256,classes=3,seed=0,dense=0.5] | digits[:n=400,val=100,imgsz=256,seed=0,dense=0.5] | data.yaml | COCO .json; "
                        "classifiers: an ImageFolder DIR (DIR/train/<class>/*.png, DIR/val/<class>/*.png) | xray-builtin")
    parser.add_argument("--epochs", type=positive_int, default=30, help="epochs in total; with --resume, more than the saved total extends the run (default %(default)s)")
    parser.add_argument("--imgsz", type=positive_int, default=256, help="training/validation size, a multiple of 32 (default %(default)s)")
    parser.add_argument("--batch", type=positive_int, default=16, help="images per batch (default %(default)s)")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N | 0,1,2,3 (those GPUs, one process each, started by torchrun)")
    parser.add_argument("--nproc", type=positive_int, default=1,
                        help="processes on this machine, started by torchrun's launcher (data-parallel, --batch is the global batch; "
                             "one per GPU with --device cuda; default %(default)s)")
    parser.add_argument("--sync-bn", action="store_true", help="SyncBatchNorm across the processes of a distributed run (CUDA)")
    parser.add_argument("--out", default="runs/train",
                        help="run folder (weights/, results.csv, *.png); when it holds a run, the next free runs/train2, "
                             "runs/train3... is used instead (default %(default)s)")
    parser.add_argument("--exist-ok", action="store_true", help="write into --out even when it holds a run (replacing its files)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from weights/last.pt with its saved options (--epochs above its total extends it)")
    parser.add_argument("--optimizer", choices=("adamw", "sgd"), default="adamw")
    parser.add_argument("--lr0", type=positive_float, default=None, help="initial learning rate (default 0.01 sgd, 0.002 adamw)")
    parser.add_argument("--moe-coef", type=non_negative_float, default=0.2, help="MoE balance-loss coefficient (YOLO-Master: 0.15-0.3; default %(default)s)")
    parser.add_argument("--balance-loss", choices=("auto", "switch", "cv2", "mi", "none"), default="auto",
                        help="MoE balance loss: Switch/GShard, importance + load cv^2, mi: image-expert mutual information, none; "
                             "auto: mi for routers that standardise their logits (the default model's), else none for routers "
                             "with the auxiliary-loss-free bias (the other esmoe-* presets), else switch "
                             "(default %(default)s)")
    parser.add_argument("--z-loss", type=non_negative_float, default=None,
                        help="router z-loss weight in the MoE loss (default 0.001; 0 for routers that standardise their logits over the batch)")
    parser.add_argument("--router-warmup", type=non_negative_float, default=1.0,
                        help="epochs of dense-to-sparse training: every expert mixed in with the router's softmax, fading "
                             "linearly to plain top-K (MoE detectors; default %(default)s)")
    parser.add_argument("--router-lr-settle", type=non_negative_int, default=0,
                        help="from this epoch on (1-based) the routers learn at the base rate instead of 10x: found in the first "
                             "epochs, their split of the images holds on long schedules (0: never; default %(default)s)")
    parser.add_argument("--precise-bn", type=non_negative_int, default=160,
                        help="training images whose BatchNorm statistics replace the running ones before each validation, "
                             "so eval routes as training does (detectors; 0: off; default %(default)s)")
    parser.add_argument("--no-dfl", action="store_true", help="regress box distances directly instead of with DFL")
    parser.add_argument("--mosaic", type=probability, default=0.5, help="probability of a 4-image mosaic per training image (default %(default)s)")
    parser.add_argument("--close-mosaic", type=non_negative_int, default=2, help="turn mosaic off for the last N epochs (default %(default)s)")
    parser.add_argument("--close-hsv", type=non_negative_int, default=2,
                        help="turn the HSV colour jitter off for the last N epochs, so they train on the colours validation "
                             "and deployment see (default %(default)s)")
    parser.add_argument("--workers", type=non_negative_int, default=1, help="DataLoader worker processes (default %(default)s)")
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--experts", type=expert_paths, default=(),
                        help="yolo-moe-* only: expert checkpoints A.pt,B.pt (dense detectors trained with `edge-moe train`, same classes and size)")
    parser.add_argument("--freeze-experts", action=argparse.BooleanOptionalAction, default=True,
                        help="keep the experts' weights fixed and train only the router (the paper's recipe; default on)")
    parser.add_argument("--threads", type=non_negative_int, default=0, help="torch threads (0: torch default; 1 is fastest on a busy 2-core CPU)")


def run(args: argparse.Namespace) -> int:
    from edge_moe.data.augment import AugmentConfig
    from edge_moe.trainers import TrainConfig, train
    from edge_moe.trainers.launch import gpu_list

    gpus = gpu_list(args.device)
    if len(gpus) > 1 or args.nproc > 1:
        return _launch(args, gpus)
    device = f"cuda:{gpus[0]}" if gpus else args.device  # --device 0: one GPU, this process
    lr0 = args.lr0 if args.lr0 is not None else (0.01 if args.optimizer == "sgd" else 0.002)
    config = TrainConfig(
        model=args.model, data=args.data, epochs=args.epochs, imgsz=args.imgsz, batch=args.batch, device=device,
        out=args.out, optimizer=args.optimizer, lr0=lr0, moe_coef=args.moe_coef, balance_loss=args.balance_loss, z_loss=args.z_loss,
        router_warmup=args.router_warmup, router_lr_settle=args.router_lr_settle, precise_bn=args.precise_bn,
        use_dfl=not args.no_dfl,
        close_mosaic=args.close_mosaic, close_hsv=args.close_hsv, workers=args.workers, seed=args.seed, threads=args.threads,
        augment=AugmentConfig(mosaic=args.mosaic), sync_bn=args.sync_bn, experts=args.experts, freeze_experts=args.freeze_experts,
    )
    train(config, resume=args.resume, exist_ok=args.exist_ok, given=given_fields(getattr(args, "argv", ())))
    return 0


def _launch(args: argparse.Namespace, gpus: list[int]) -> int:
    """This command again in --nproc processes (one per listed GPU) under torchrun, without --nproc."""
    import os

    from edge_moe.trainers.launch import check_launch, launch_train

    nproc = len(gpus) or args.nproc
    if gpus and args.nproc not in (1, nproc):
        raise UserError(f"--nproc {args.nproc}: --device {args.device} names {len(gpus)} GPU(s), one process each")
    device = "cuda" if gpus else args.device
    check_launch(nproc, device, gpus)
    if gpus:
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, gpus))
    launch_train(without_options(list(getattr(args, "argv", ()))[1:], ("--nproc", "--device")) + ["--device", device], nproc)
    return 0


def without_options(argv: list[str], names: tuple[str, ...]) -> list[str]:
    """``argv`` less the options ``names`` and their values (``--x V`` or ``--x=V``)."""
    kept: list[str] = []
    skip = False
    for token in argv:
        if skip:
            skip = False
        elif token in names:
            skip = True
        elif token.split("=", 1)[0] not in names:
            kept.append(token)
    return kept


def expert_paths(value: str) -> tuple[str, ...]:
    """``A.pt,B.pt`` -> ("A.pt", "B.pt") (empty items dropped)."""
    return tuple(part.strip() for part in value.split(",") if part.strip())


FIELD_OF_FLAG = {"--no-dfl": "use_dfl", "--mosaic": "augment.mosaic", "--no-freeze-experts": "freeze_experts"}  # the rest: --moe-coef -> moe_coef


def given_fields(argv: list[str]) -> list[str]:
    """The TrainConfig fields set explicitly on the command line (what --resume checks against the saved run)."""
    flags = [token.split("=", 1)[0] for token in argv if token.startswith("--")]
    return [FIELD_OF_FLAG.get(flag, flag[2:].replace("-", "_")) for flag in flags if flag not in ("--resume", "--exist-ok", "--nproc")]
