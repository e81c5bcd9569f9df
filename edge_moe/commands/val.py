"""`edge-moe val`: COCO metrics (pycocotools), ms per image and expert usage of a checkpoint."""
from __future__ import annotations

import argparse
import json

from edge_moe.commands.values import non_negative_int, positive_int

HELP = "evaluate a checkpoint: detectors mAP@0.5:0.95, mAP@0.5, AR@100; classifiers accuracy, macro-F1, confusion matrix; ms/image, expert usage"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", required=True, help="checkpoint (.pt) written by `edge-moe train`")
    parser.add_argument("--data", required=True, help="synthetic[:options] | digits[:options] | data.yaml | COCO .json | ImageFolder DIR (classifiers) | xray-builtin")
    parser.add_argument("--imgsz", type=positive_int, default=None, help="default: the checkpoint's training size")
    parser.add_argument("--batch", type=positive_int, default=16, help="images per batch (default %(default)s)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--routing", choices=("sparse", "dense"), default="sparse", help="execute only the K selected experts (sparse) or all, masked (dense)")
    parser.add_argument("--threads", type=non_negative_int, default=0, help="torch threads (default 0: torch's default; 1 is fastest on a busy 2-core CPU)")
    parser.add_argument("--top-k", type=positive_int, default=None, help="detectors: route to only K' <= K experts per MoE layer (as `edge-moe run --top-k`)")
    parser.add_argument("--json", action="store_true", help="print JSON (keys map50_95, map50, ar100, ...)")


def run(args: argparse.Namespace) -> int:
    from edge_moe.checkpoint import model_from_checkpoint
    from edge_moe.data import load_data
    from edge_moe.data.imagefolder import is_image_folder
    from edge_moe.errors import UserError
    from edge_moe.models.config import check_imgsz
    from edge_moe.moe import moe_execution
    from edge_moe.moe.layer import limit_top_k
    from edge_moe.threads import torch_threads
    from edge_moe.trainers import evaluate, format_result
    from edge_moe.trainers.trainer import resolve_device

    device = resolve_device(args.device)
    model, payload = model_from_checkpoint(args.weights)
    if model.config.task == "classify":
        return _classify(args, model, payload, device)
    if is_image_folder(args.data):
        raise UserError(f"--data {args.data}: an ImageFolder (classification) directory, but {args.weights} is a {model.config.task} checkpoint")
    imgsz = args.imgsz or model.config.imgsz
    check_imgsz(imgsz, max(model.config.strides), "--imgsz")
    data = load_data(args.data, splits=("val",))
    if len(data.names) != model.num_classes:
        raise UserError(
            f"--data {args.data}: {len(data.names)} classes {data.names} but {args.weights} was trained on "
            f"{model.num_classes} classes {payload['class_names']}"
        )
    if args.top_k is not None:
        try:
            limit_top_k(model, args.top_k)
        except ValueError as error:
            raise UserError(f"--top-k {args.top_k}: {error}") from None
    with torch_threads(args.threads), moe_execution(model.to(device), args.routing):
        result = evaluate(model, data.split("val"), imgsz, batch=args.batch, device=device, progress=not args.json)
    if args.json:
        print(json.dumps({"weights": str(args.weights), "model": payload["model"], "routing": args.routing, **result.to_dict()}, indent=2))
    else:
        print(format_result(result, f"{args.weights} ({payload['model']}) on {args.data}, {imgsz}px, {args.routing} routing:"))
    return 0


def _classify(args: argparse.Namespace, model, payload: dict, device: str) -> int:
    from edge_moe.trainers.classify_eval import format_classify_result, validate_checkpoint

    result, png = validate_checkpoint(model, payload, args.weights, args.data, args.imgsz, args.batch, device, args.routing, not args.json)
    if args.json:
        print(json.dumps({"weights": str(args.weights), "model": payload["model"], "routing": args.routing, **result.to_dict(),
                          "confusion_matrix_png": str(png)}, indent=2))
    else:
        print(format_classify_result(result, f"{args.weights} ({payload['model']}) on {args.data}, {args.routing} routing:"))
        print(f"confusion matrix: {png}")
    return 0
