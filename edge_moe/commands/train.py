"""`edge-moe train`: train a detector, checkpoint every epoch, print the final validation metrics."""
from __future__ import annotations

import argparse

HELP = "train a detector or classifier (weights/last.pt + best.pt, results.csv, plots, routing health)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="esmoe-pico", help="zoo name (see `edge-moe models`)")
    parser.add_argument("--data", default="synthetic", help="synthetic[:n=1000,val=200,imgsz=256,classes=3,seed=0,dense=0.5] | data.yaml | COCO .json; "
                        "classifiers: an ImageFolder DIR (DIR/train/<class>/*.png, DIR/val/<class>/*.png) | xray-builtin")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--imgsz", type=int, default=256, help="training/validation size (multiple of 32)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    parser.add_argument("--out", default="runs/train", help="run folder (weights/, results.csv, *.png)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from weights/last.pt")
    parser.add_argument("--optimizer", choices=("adamw", "sgd"), default="adamw")
    parser.add_argument("--lr0", type=float, default=None, help="initial learning rate (default 0.01 sgd, 0.002 adamw)")
    parser.add_argument("--moe-coef", type=float, default=0.2, help="MoE balance-loss coefficient (YOLO-Master: 0.15-0.3)")
    parser.add_argument("--no-dfl", action="store_true", help="regress box distances directly instead of with DFL")
    parser.add_argument("--mosaic", type=float, default=0.5, help="probability of a 4-image mosaic per training image")
    parser.add_argument("--close-mosaic", type=int, default=2, help="turn mosaic off for the last N epochs")
    parser.add_argument("--workers", type=int, default=1, help="DataLoader worker processes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default; 1 is fastest on a busy 2-core CPU)")


def run(args: argparse.Namespace) -> int:
    from edge_moe.data.augment import AugmentConfig
    from edge_moe.trainers import TrainConfig, train

    lr0 = args.lr0 if args.lr0 is not None else (0.01 if args.optimizer == "sgd" else 0.002)
    config = TrainConfig(
        model=args.model, data=args.data, epochs=args.epochs, imgsz=args.imgsz, batch=args.batch, device=args.device,
        out=args.out, optimizer=args.optimizer, lr0=lr0, moe_coef=args.moe_coef, use_dfl=not args.no_dfl,
        close_mosaic=args.close_mosaic, workers=args.workers, seed=args.seed, threads=args.threads,
        augment=AugmentConfig(mosaic=args.mosaic),
    )
    train(config, resume=args.resume)
    return 0
