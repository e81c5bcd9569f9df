"""`edge-moe info MODEL`: parameters, FLOPs and MoE layers, total vs active per frame."""
from __future__ import annotations

import argparse
import json

from edge_moe.model_source import source_kind

from edge_moe.commands.values import positive_int
from typing import Any, Optional

HELP = "parameters, FLOPs and MoE layers of a model (total vs active per frame)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="a zoo name (see `edge-moe models`), a checkpoint (.pt) or a bundle directory")
    parser.add_argument("--num-classes", type=positive_int, default=None, help="override the number of classes")
    parser.add_argument("--imgsz", type=positive_int, default=None, help="input size for FLOPs (multiple of 32)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def model_info(model: Any, imgsz: Optional[int] = None) -> dict[str, Any]:
    """The info record of a built model (the JSON printed by ``edge-moe info``)."""
    from edge_moe.models.complexity import measure

    imgsz = imgsz or model.config.imgsz
    cost = measure(model, imgsz)
    return {
        "name": model.config.name,
        "task": model.config.task,
        "params": cost.params,
        "trainable_params": cost.trainable_params,
        "frozen_params": cost.frozen_params,
        "active_params": cost.active_params,
        "gflops": round(cost.flops / 1e9, 4),
        "active_gflops": round(cost.active_flops / 1e9, 4),
        "imgsz": imgsz,
        "moe_layers": [{"name": layer.name, "experts": layer.experts, "top_k": layer.top_k} for layer in cost.layers],
    }


def _build(args: argparse.Namespace) -> Any:
    from edge_moe.checkpoint import model_from_checkpoint
    from edge_moe.errors import UserError
    from edge_moe.models import create_model

    if source_kind(args.model) == "checkpoint":
        if args.num_classes is not None:
            raise UserError("--num-classes cannot change a checkpoint's model; it has its own classes")
        return model_from_checkpoint(args.model)[0]
    overrides = {}
    if args.num_classes is not None:
        overrides["num_classes"] = args.num_classes
    if args.imgsz is not None:
        overrides["imgsz"] = args.imgsz
    return create_model(args.model, **overrides)  # a bad value is a ConfigError, a one-line UserError


def run(args: argparse.Namespace) -> int:
    if source_kind(args.model) == "bundle":
        return _bundle_run(args)  # torch-free: a runtime-only install reads bundles too
    from edge_moe.models.config import check_imgsz

    model = _build(args)
    if args.imgsz is not None:
        check_imgsz(args.imgsz, max(model.config.strides), "--imgsz")
    info = model_info(model, args.imgsz)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(format_info(info))
    return 0


def format_info(info: dict[str, Any]) -> str:
    lines = [
        f"{info['name']} ({info['task']}, {info['imgsz']}x{info['imgsz']})",
        f"  params           {info['params'] / 1e6:8.3f} M  (trainable {info['trainable_params'] / 1e6:.3f} M, frozen {info['frozen_params'] / 1e6:.3f} M)",
        f"  active params    {info['active_params'] / 1e6:8.3f} M  per frame",
        f"  GFLOPs           {info['gflops']:8.3f}    all experts",
        f"  active GFLOPs    {info['active_gflops']:8.3f}    per frame (K costliest experts)",
    ]
    if info["moe_layers"]:
        lines.append("  MoE layers:")
        lines += [f"    {layer['name']:<20} experts={layer['experts']} top_k={layer['top_k']}" for layer in info["moe_layers"]]
    else:
        lines.append("  MoE layers: none (dense)")
    return "\n".join(lines)


def bundle_info(path: str) -> dict[str, Any]:
    """The info record of an exported bundle (torch-free: reads and validates its manifest)."""
    from edge_moe.runtime.bundle import load_bundle

    bundle = load_bundle(path)
    manifest = bundle.manifest
    return {
        "bundle": str(bundle.root),
        "model": bundle.model,
        "task": manifest.task,
        "input": list(manifest.input.shape),
        "input_size": list(manifest.input.size),
        "batch": manifest.input.batch,
        "classes": len(bundle.class_names),
        "routing": bundle.routing,
        "lowering": manifest.lowering,
        "moe_layers": [layer.to_json() for layer in bundle.moe_layers],
        "graphs": len(bundle.graphs),
        "onnx_mib": round(sum((bundle.root / g.file).stat().st_size for g in bundle.graphs.values()) / 2**20, 3),
        "engines": {name: {"flavour": e.get("flavour", "tensorrt"), **{k: e.get(k) for k in ("tensorrt", "gpu", "precision", "compute_capabilities")}}
                    for name, e in bundle.engines.items()},
        "source": manifest.source,
        "versions": manifest.versions,
        "parity": (manifest.checks or {}).get("parity", {}),
    }


def format_engines(engines: dict[str, dict[str, Any]]) -> str:
    """One entry per flavour, version, precision and target: "12 TensorRT-RTX 1.7.1 fp16 for sm 8.6/8.9"."""
    from collections import Counter

    from edge_moe.runtime.bundle import ENGINE_FLAVOURS

    groups = Counter(
        (ENGINE_FLAVOURS[e["flavour"]].label if e["flavour"] in ENGINE_FLAVOURS else e["flavour"], e["tensorrt"], e["precision"],
         f"on {e['gpu']}" if e["gpu"] else "for sm " + "/".join(e["compute_capabilities"] or []))
        for e in engines.values()
    )
    return "; ".join(f"{count} {label} {version} {precision} {where}" for (label, version, precision, where), count in sorted(groups.items()))


def _bundle_run(args: argparse.Namespace) -> int:
    from edge_moe.errors import UserError

    if args.num_classes is not None or args.imgsz is not None:
        raise UserError("--num-classes and --imgsz do not apply to a bundle; its input size is fixed at export")
    info = bundle_info(args.model)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    height, width = info["input_size"]
    lines = [
        f"{info['model']} bundle ({info['task']}, {height}x{width}, batch {info['batch']}, {info['classes']} classes) at {info['bundle']}",
        f"  routing          {info['routing']} ({info['lowering']} lowering), {info['graphs']} graphs, {info['onnx_mib']:.2f} MiB ONNX",
        f"  source           {', '.join(f'{k}={v}' for k, v in info['source'].items())}",
    ]
    lines.append("  MoE layers:" if info["moe_layers"] else "  MoE layers: none (dense)")
    lines += [f"    {layer['name']:<20} experts={layer['experts']} top_k={layer['top_k']}" for layer in info["moe_layers"]]
    lines.append("  engines          " + (format_engines(info["engines"]) if info["engines"] else "none (run `edge-moe build-engine`)"))
    for key, figures in info["parity"].items():
        if isinstance(figures, dict):
            diffs = "  ".join(f"{k.replace('_max_abs_diff', '')} {v:.2e}" for k, v in figures.items() if k.endswith("_max_abs_diff"))
            lines.append(f"  parity {key:<22} {diffs}  routing {figures['routing_agreement']:.1%}")
    print("\n".join(lines))
    return 0
