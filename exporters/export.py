"""``export_bundle``: model or checkpoint -> checked deployment bundle, written atomically.

Every export builds the graphs of the asked lowering and, in a scratch folder, of the other one;
runs the graph checks (ONNX checker, static shapes, TensorRT operator census) on all of them; and
compares PyTorch eval, the sparse and the dense bundle on a batch of images. Only a bundle that
passes is renamed into place.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import onnx
import torch

from edge_moe import __version__
from edge_moe.errors import UserError
from edge_moe.exporters.checks import ExportCheckError, GraphReport, census_table, check_graph
from edge_moe.exporters.fp16 import to_fp16
from edge_moe.exporters.graphs import ROUTINGS, Lowered, lower
from edge_moe.exporters.lowering import routed_layers
from edge_moe.exporters.onnx_graph import DEFAULT_OPSET, save_graph
from edge_moe.exporters.parity import check_parity, parity_failures, parity_images
from edge_moe.exporters.uint8_input import as_uint8_frames, from_uint8_frames, with_uint8_input
from edge_moe.model_source import source_kind
from edge_moe.models.config import check_imgsz
from edge_moe.runtime.bundle import FORMAT, MANIFEST, graph_file, load_bundle, sha256_of, write_manifest
from edge_moe.runtime.schema import FileRef, GraphEntry, Manifest, MoELayerSpec, NetworkInput, Plan, TensorSpec
from edge_moe.threads import torch_threads

Source = Union[str, Path, torch.nn.Module]
OPSETS = range(13, 21)


@dataclass
class ExportReport:
    """What an export checked and measured (``edge-moe export --json`` prints ``to_dict()``)."""

    bundle: Path
    model: str
    routing: str
    lowering: str
    imgsz: int
    graphs: list[GraphReport] = field(default_factory=list)
    parity: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def census(self) -> str:
        return census_table(self.graphs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "bundle": str(self.bundle),
            "model": self.model,
            "routing": self.routing,
            "lowering": self.lowering,
            "imgsz": self.imgsz,
            "graphs": [g.to_dict() for g in self.graphs],
            "parity": self.parity,
            "seconds": round(self.seconds, 2),
        }


def resolve_source(source: Source) -> tuple[torch.nn.Module, list[str], dict[str, Any]]:
    """(model in eval, class names, source record) from a model, a checkpoint path or a zoo name."""
    from edge_moe.checkpoint import model_from_checkpoint
    from edge_moe.models import create_model

    if isinstance(source, torch.nn.Module):
        names = [f"class{i}" for i in range(source.num_classes)]
        return source.eval(), names, {"module": source.config.name}
    path = Path(source)
    kind = source_kind(str(source))
    if kind == "bundle":
        raise UserError(f"{source}: is a bundle already; export takes a checkpoint (.pt) or a zoo name")
    if kind == "checkpoint":
        model, payload = model_from_checkpoint(path)
        return model, list(payload["class_names"]), {"checkpoint": path.name, "checkpoint_sha256": sha256_of(path)}
    model = create_model(str(source)).eval()  # an unknown name is the registry's one-line "unknown model"
    return model, [f"class{i}" for i in range(model.num_classes)], {"zoo": str(source), "weights": "initialised (untrained)"}


MAX_BATCH = 256


def validate_options(model: torch.nn.Module, imgsz: int, routing: str, opset: int, batch: int = 1) -> None:
    check_imgsz(imgsz, max(model.config.strides))
    if not isinstance(batch, int) or not 1 <= batch <= MAX_BATCH:
        raise UserError(f"batch must be an integer in [1, {MAX_BATCH}], got {batch!r}")
    if routing not in ROUTINGS:
        raise UserError(f"routing must be one of {list(ROUTINGS)}, got {routing!r}")
    if opset not in OPSETS:
        raise UserError(f"opset must be in [{OPSETS.start}, {OPSETS.stop - 1}], got {opset!r}")


def export_bundle(
    model_or_weights: Source,
    out: str | Path,
    imgsz: Optional[int] = None,
    routing: str = "sparse",
    opset: Optional[int] = None,
    parity_count: int = 4,
    progress: bool = False,
    class_names: Optional[list[str]] = None,
    uint8_input: bool = False,
    batch: int = 1,
) -> Path:
    """Exports a checked bundle to ``out`` and returns its path (see :func:`export_with_report`)."""
    return export_with_report(model_or_weights, out, imgsz, routing, opset, parity_count, progress, class_names=class_names,
                              uint8_input=uint8_input, batch=batch).bundle


def export_with_report(
    model_or_weights: Source,
    out: str | Path,
    imgsz: Optional[int] = None,
    routing: str = "sparse",
    opset: Optional[int] = None,
    parity_count: int = 4,
    progress: bool = False,
    other_out: Optional[str | Path] = None,
    class_names: Optional[list[str]] = None,
    uint8_input: bool = False,
    batch: int = 1,
) -> ExportReport:
    """Exports ``model_or_weights`` (model, checkpoint or zoo name) as a ``routing`` bundle at ``out``.

    ``other_out``: also keep the bundle of the other lowering (built for the parity check) there.
    ``class_names`` overrides the names from the checkpoint (``class0..`` for zoo models).
    ``uint8_input``: the first graph takes the letterboxed BGR frame as uint8 and normalises it in-graph.
    ``batch``: frames per call (the runtime groups a batch's images by the expert they chose).
    """
    start = time.perf_counter()
    model, names, source = resolve_source(model_or_weights)
    if class_names is not None and len(class_names) != model.num_classes:
        raise UserError(f"class_names has {len(class_names)} names, the model has {model.num_classes} classes")
    class_names = list(class_names) if class_names is not None else names
    imgsz = model.config.imgsz if imgsz is None else imgsz
    opset = DEFAULT_OPSET if opset is None else opset
    validate_options(model, imgsz, routing, opset, batch)
    out = Path(out)
    tmp = _make_temp_dir(out)
    try:
        # Export work is many tiny forward passes: one thread avoids OpenMP's barrier costs, which
        # on a busy 2-core machine made each pass 15-70x slower.
        with tempfile.TemporaryDirectory(prefix="edge-moe-export-") as scratch, torch_threads(1):
            lowered = lower(model, routing, imgsz, opset, _metadata(model, routing, imgsz), progress=progress, batch=batch)
            reports = write_bundle(lowered, tmp, model, class_names, source, imgsz, opset, uint8_input=uint8_input, batch=batch)
            bundle, other = load_bundle(tmp), None
            if routed_layers(model):  # the other lowering, for the sparse-vs-dense check
                other_routing = "dense" if routing == "sparse" else "sparse"
                other_root = Path(scratch) / "other"
                other_lowered = lower(model, other_routing, imgsz, opset, _metadata(model, other_routing, imgsz), progress=progress,
                                      batch=batch)
                write_bundle(other_lowered, other_root, model, class_names, source, imgsz, opset, uint8_input=uint8_input, batch=batch)
                other = load_bundle(other_root)
            images = parity_images(parity_count, imgsz)
            if uint8_input:  # images a uint8 frame can carry exactly, so the float reference sees the same pixels
                images = from_uint8_frames(as_uint8_frames(images))
            parity = check_parity(model, bundle, other, images)
            failures = parity_failures(parity)
            if failures:
                raise ExportCheckError(f"parity check failed for {model.config.name}: {'; '.join(failures)}")
            _record_checks(tmp, parity)
            if other_out is not None and other is not None:
                _record_checks(other.root, parity)
                _move_into_place(other.root, Path(other_out))
            _replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return ExportReport(out, model.config.name, routing, lowered.lowering, imgsz, reports, parity, time.perf_counter() - start)


def _metadata(model: torch.nn.Module, routing: str, imgsz: int) -> dict[str, str]:
    return {
        "edge_moe.format": FORMAT,
        "edge_moe.version": __version__,
        "edge_moe.model": model.config.name,
        "edge_moe.routing": routing,
        "edge_moe.imgsz": str(imgsz),
        "edge_moe.num_classes": str(model.num_classes),
    }


def write_bundle(
    lowered: Lowered, root: Path, model: torch.nn.Module, class_names: list[str], source: dict[str, Any], imgsz: int, opset: int,
    fp16: bool = True, uint8_input: bool = False, batch: int = 1,
) -> list[GraphReport]:
    """Checks and writes every graph (FP32 and, with ``fp16``, FP16) and the manifest into ``root``."""
    import onnxruntime

    network_input = NetworkInput(shape=(batch, 3, imgsz, imgsz))
    if uint8_input:
        network_input = NetworkInput(shape=(batch, imgsz, imgsz, 3), dtype="uint8", layout="NHWC", color="BGR", normalised_in_graph=True)
        for graph in lowered.graphs:
            if any(spec["name"] == network_input.name for spec in graph.inputs):
                graph.model = with_uint8_input(graph.model, network_input.name, network_input.scale, network_input.mean,
                                               network_input.std, rgb=True)
                graph.inputs = [{"name": network_input.name, "shape": list(network_input.shape), "dtype": "uint8"}
                                if spec["name"] == network_input.name else spec for spec in graph.inputs]
    reports, graphs = [], {}
    for graph in lowered.graphs:
        reports.append(check_graph(graph.model, graph.name, allow_if=lowered.lowering == "if"))
        relative, relative16 = f"graphs/{graph.name}.onnx", f"graphs/fp16/{graph.name}.onnx"
        save_graph(graph.model, root / relative)
        if fp16:
            save_graph(to_fp16(graph.model), root / relative16)
        graphs[graph.name] = GraphEntry(
            **graph_file(root, relative), inputs=_specs(graph.inputs), outputs=_specs(graph.outputs),
            fp16=FileRef(**graph_file(root, relative16)) if fp16 else None,
        )
    outputs = {o["name"]: o for g in lowered.graphs for o in g.outputs}
    manifest = Manifest(
        task=model.config.task,
        model=model.config.name,
        class_names=tuple(class_names),
        input=network_input,
        moe_layers=tuple(MoELayerSpec(l.name, l.num_experts, l.top_k) for l in routed_layers(model)),
        routing=lowered.routing,
        lowering=lowered.lowering,
        graphs=graphs,
        plan=Plan.parse(lowered.plan, str(root / MANIFEST)),
        strides=tuple(model.config.strides),
        decoding=decoding(model.config.task, outputs),
        config=model.config.to_dict(),
        source=source,
        versions={
            "edge_moe": __version__,
            "torch": torch.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__,
            "opset": opset,
        },
    )
    write_manifest(root, manifest)
    return reports


def _specs(entries: list[dict[str, Any]]) -> tuple[TensorSpec, ...]:
    return tuple(TensorSpec(e["name"], tuple(e["shape"]), e["dtype"]) for e in entries)


def decoding(task: str, outputs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What the deployment outputs mean: a detector's boxes and scores, a classifier's logits and probabilities."""
    if task == "classify":
        return {
            "logits": {"name": "logits", "shape": outputs["logits"]["shape"]},
            "probs": {"name": "probs", "activation": "softmax"},
        }
    return {
        "boxes": {"name": "boxes", "format": "xyxy", "units": "letterboxed input pixels"},
        "scores": {"name": "scores", "activation": "sigmoid"},
        "anchors": outputs["boxes"]["shape"][1],
        "nms": "runtime (not in the graph)",
    }


def _record_checks(root: Path, parity: dict[str, Any]) -> None:
    manifest = load_bundle(root, verify_hashes=False).manifest
    write_manifest(root, manifest.replace(checks={"parity": parity}))


def _make_temp_dir(out: Path) -> Path:
    """A fresh folder beside ``out`` (same file system, so the final rename is atomic)."""
    if out.exists() and not (out.is_dir() and ((out / MANIFEST).is_file() or not any(out.iterdir()))):
        raise UserError(f"{out}: exists and is not an edge-moe bundle; refusing to overwrite it (choose another --out)")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_dirs(out)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.{os.getpid()}.", suffix=".tmp", dir=out.parent))
    except OSError as error:
        raise UserError(f"{out}: cannot write the bundle there ({error.strerror or error})") from None
    tmp.chmod(0o755)  # mkdtemp makes it private; a bundle is meant to be shared
    return tmp


STALE_AFTER_S = 24 * 3600  # a temporary folder whose owner cannot be told is left alone this long


def remove_stale_temp_dirs(out: Path) -> list[Path]:
    """Removes ``.{out.name}.{pid}.*.tmp`` folders beside ``out`` left by exports that were killed: those whose
    process is gone (a running export's folder is never touched), and unowned ones older than a day."""
    removed = []
    for folder in out.parent.glob(f".{out.name}.*.tmp"):
        owner = folder.name[len(out.name) + 2:].split(".", 1)[0]
        try:
            stale = not _process_alive(int(owner)) if owner.isdigit() else time.time() - folder.stat().st_mtime > STALE_AFTER_S
        except OSError:
            continue
        if stale and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _move_into_place(built: Path, out: Path) -> None:
    """Moves a bundle built elsewhere (another file system, maybe) to ``out`` atomically."""
    tmp = _make_temp_dir(out)
    try:
        shutil.copytree(built, tmp, dirs_exist_ok=True)
        _replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _replace(tmp: Path, out: Path) -> None:
    """Renames ``tmp`` to ``out``; an existing bundle at ``out`` is swapped out, then removed."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    try:
        os.replace(tmp, out)
    except OSError:
        if old is not None:
            os.replace(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
