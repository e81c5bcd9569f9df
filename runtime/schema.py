"""The bundle manifest as typed dataclasses: one reader (``Manifest.parse``, which validates) and one
writer (``Manifest.to_json``), shared by export, build-engine, info, bench and the runtime (torch-free).

A bad manifest is a one-line :class:`UserError` naming the manifest file and the field at fault.
Model-specific records the runtime does not interpret (``decoding``, ``config``, ``source``,
``versions``, ``checks``) stay plain JSON objects.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Optional, Union

from edge_moe.errors import UserError

FORMAT = "edge-moe-bundle"
SCHEMA_VERSION = 2  # 2: the graph that routes an MoE layer takes its slot mask (sparse plans too)
ROUTINGS = ("sparse", "dense")
TASKS = ("detect", "classify")
DTYPES = ("float32", "float16", "int64", "int32", "uint8", "bool")


class ManifestError(UserError):
    """A manifest field is missing or has the wrong type or value."""


def _fail(where: str, field_path: str, expected: str, got: Any) -> ManifestError:
    return ManifestError(f"{where}: {field_path} must be {expected}, got {got!r}")


def _get(data: Any, key: str, where: str, path: str, kind: Union[type, tuple], expected: str, default: Any = ...) -> Any:
    if not isinstance(data, dict):
        raise _fail(where, path or "manifest", "a JSON object", data)
    if key not in data:
        if default is ...:
            raise ManifestError(f"{where}: missing field {path + '.' if path else ''}{key}")
        return default
    value = data[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,))):
        raise _fail(where, f"{path + '.' if path else ''}{key}", expected, value)
    return value


def _shape(value: Any, where: str, path: str) -> tuple[int, ...]:
    if not (isinstance(value, list) and value and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in value)):
        raise _fail(where, path, "a list of positive integers", value)
    return tuple(value)


@dataclass(frozen=True)
class TensorSpec:
    """A graph input or output: static shape and dtype."""

    name: str
    shape: tuple[int, ...]
    dtype: str

    @classmethod
    def parse(cls, data: Any, where: str, path: str) -> "TensorSpec":
        name = _get(data, "name", where, path, str, "a tensor name")
        dtype = _get(data, "dtype", where, path, str, f"one of {list(DTYPES)}")
        if dtype not in DTYPES:
            raise _fail(where, f"{path}.dtype", f"one of {list(DTYPES)}", dtype)
        return cls(name, _shape(data.get("shape"), where, f"{path}.shape"), dtype)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}


@dataclass(frozen=True)
class FileRef:
    """A file inside the bundle and its sha256."""

    file: str
    sha256: str

    @classmethod
    def parse(cls, data: Any, where: str, path: str) -> "FileRef":
        return cls(_get(data, "file", where, path, str, "a relative file path"), _get(data, "sha256", where, path, str, "a sha256 hex string"))


@dataclass(frozen=True)
class GraphEntry:
    """One ONNX graph (FP32) with its I/O, and its FP16-weights twin."""

    file: str
    sha256: str
    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()
    fp16: Optional[FileRef] = None

    @classmethod
    def parse(cls, data: Any, where: str, path: str) -> "GraphEntry":
        ref = FileRef.parse(data, where, path)
        io = {kind: tuple(TensorSpec.parse(t, where, f"{path}.{kind}[{i}]")
                          for i, t in enumerate(_get(data, kind, where, path, list, "a list of tensors", [])))
              for kind in ("inputs", "outputs")}
        fp16 = FileRef.parse(data["fp16"], where, f"{path}.fp16") if data.get("fp16") is not None else None
        return cls(ref.file, ref.sha256, io["inputs"], io["outputs"], fp16)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"file": self.file, "sha256": self.sha256,
                               "inputs": [t.to_json() for t in self.inputs], "outputs": [t.to_json() for t in self.outputs]}
        if self.fp16 is not None:
            out["fp16"] = {"file": self.fp16.file, "sha256": self.fp16.sha256}
        return out


@dataclass(frozen=True)
class NetworkInput:
    """What the first graph takes, and how a frame becomes it (letterbox, colour order, normalisation)."""

    shape: tuple[int, ...]  # (B, 3, H, W) NCHW float32, or (B, H, W, 3) NHWC uint8 normalised in-graph; B frames a call
    name: str = "images"
    dtype: str = "float32"
    layout: str = "NCHW"
    color: str = "RGB"
    scale: float = 1 / 255
    mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    std: tuple[float, ...] = (1.0, 1.0, 1.0)
    pad_value: int = 114
    normalised_in_graph: bool = False

    @property
    def batch(self) -> int:
        """Frames per call (the bundle was exported with ``--batch``)."""
        return self.shape[0]

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of the letterboxed input."""
        return (self.shape[1], self.shape[2]) if self.layout == "NHWC" else (self.shape[2], self.shape[3])

    @classmethod
    def parse(cls, data: Any, where: str) -> "NetworkInput":
        layout = _get(data, "layout", where, "input", str, "'NCHW' or 'NHWC'", "NCHW")
        shape = _shape(data.get("shape") if isinstance(data, dict) else None, where, "input.shape")
        nhwc = layout == "NHWC"
        if layout not in ("NCHW", "NHWC") or len(shape) != 4 or (shape[3] if nhwc else shape[1]) != 3:
            raise _fail(where, "input.shape", "[B, H, W, 3] (NHWC)" if nhwc else "[B, 3, H, W] (NCHW)", list(shape))
        color = _get(data, "color", where, "input", str, "'RGB' or 'BGR'", "RGB")
        if color not in ("RGB", "BGR"):
            raise _fail(where, "input.color", "'RGB' or 'BGR'", color)
        numbers = {}
        for key, default in (("mean", (0.0, 0.0, 0.0)), ("std", (1.0, 1.0, 1.0))):
            value = _get(data, key, where, "input", list, "a list of 3 numbers", list(default))
            if len(value) != 3 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value) or (key == "std" and 0 in value):
                raise _fail(where, f"input.{key}", "a list of 3 numbers" + (" (non-zero)" if key == "std" else ""), value)
            numbers[key] = tuple(float(v) for v in value)
        letterbox = _get(data, "letterbox", where, "input", dict, "an object", {})
        pad = letterbox.get("pad_value", letterbox.get("pad", 114))
        if not isinstance(pad, int) or not 0 <= pad <= 255:
            raise _fail(where, "input.letterbox.pad_value", "an integer in [0, 255]", pad)
        return cls(
            shape=shape, name=_get(data, "name", where, "input", str, "a tensor name", "images"),
            dtype=_get(data, "dtype", where, "input", str, "'float32' or 'uint8'", "uint8" if nhwc else "float32"),
            layout=layout, color=color, scale=float(_get(data, "scale", where, "input", (int, float), "a number", 1 / 255)),
            pad_value=pad, normalised_in_graph=bool(data.get("normalised_in_graph", False)), **numbers,
        )

    def to_json(self) -> dict[str, Any]:
        out = {"name": self.name, "shape": list(self.shape), "dtype": self.dtype, "layout": self.layout, "color": self.color,
               "scale": self.scale, "mean": list(self.mean), "std": list(self.std), "letterbox": {"pad_value": self.pad_value}}
        if self.normalised_in_graph:
            out["normalised_in_graph"] = True
        return out


@dataclass(frozen=True)
class MoELayerSpec:
    name: str
    experts: int
    top_k: int

    @classmethod
    def parse(cls, data: Any, where: str, path: str) -> "MoELayerSpec":
        name = _get(data, "name", where, path, str, "a layer name")
        experts = _get(data, "experts", where, path, int, "a positive integer")
        top_k = _get(data, "top_k", where, path, int, "an integer")
        if not 1 <= top_k <= experts:
            raise _fail(where, f"{path}.top_k", f"in [1, {experts}] (experts)", top_k)
        return cls(name, experts, top_k)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "experts": self.experts, "top_k": self.top_k}


@dataclass(frozen=True)
class RunStep:
    """Run one graph on the plan's named tensors."""

    graph: str

    def to_json(self) -> dict[str, Any]:
        return {"run": self.graph}


@dataclass(frozen=True)
class ExpertsStep:
    """Run only the experts the router chose: the expert of slot k (``graphs[ids[k]]``) reads ``input`` and writes ``outputs[k]``."""

    layer: str
    graphs: tuple[str, ...]  # one per expert
    input: str
    ids: str
    weights: str
    outputs: tuple[str, ...]  # one per slot (K)

    def to_json(self) -> dict[str, Any]:
        return {"experts": self.layer, "graphs": list(self.graphs), "input": self.input, "ids": self.ids,
                "weights": self.weights, "outputs": list(self.outputs)}


Step = Union[RunStep, ExpertsStep]


def _parse_step(data: Any, where: str, path: str) -> Step:
    if isinstance(data, dict) and "run" in data:
        return RunStep(_get(data, "run", where, path, str, "a graph name"))
    if isinstance(data, dict) and "experts" in data:
        names = {key: _get(data, key, where, path, str, "a tensor name") for key in ("input", "ids", "weights")}
        graphs = _get(data, "graphs", where, path, list, "a list of graph names")
        outputs = _get(data, "outputs", where, path, list, "a list of tensor names")
        if not graphs or not outputs or not all(isinstance(v, str) for v in graphs + outputs):
            raise _fail(where, path, "an experts step with non-empty graphs and outputs lists of names", data)
        return ExpertsStep(_get(data, "experts", where, path, str, "a layer name"), tuple(graphs), outputs=tuple(outputs), **names)
    raise _fail(where, path, "{run: GRAPH} or {experts: LAYER, graphs, input, ids, weights, outputs}", data)


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    slot_masks: dict[str, str] = field(default_factory=dict)  # dense graphs: layer -> its (1, K) slot-mask input

    @classmethod
    def parse(cls, data: Any, where: str) -> "Plan":
        steps = _get(data, "steps", where, "plan", list, "a non-empty list of steps")
        if not steps:
            raise _fail(where, "plan.steps", "a non-empty list of steps", steps)
        masks = _get(data, "slot_masks", where, "plan", dict, "an object {layer: input name}", {})
        return cls(tuple(_parse_step(s, where, f"plan.steps[{i}]") for i, s in enumerate(steps)), dict(masks))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"steps": [step.to_json() for step in self.steps]}
        if self.slot_masks:
            out["slot_masks"] = dict(self.slot_masks)
        return out


@dataclass(frozen=True)
class EngineRecord:
    """A TensorRT engine of one graph: what the runtime checks before loading it. ``record`` keeps the
    builder's full record (version, GPU, precision, flags, targets, ...), written back unchanged."""

    file: str
    sha256: str
    record: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.record.get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self.record[key]

    @classmethod
    def parse(cls, data: Any, where: str, path: str) -> "EngineRecord":
        ref = FileRef.parse(data, where, path)
        return cls(ref.file, ref.sha256, dict(data))

    def to_json(self) -> dict[str, Any]:
        return {**self.record, "file": self.file, "sha256": self.sha256}


@dataclass(frozen=True)
class Manifest:
    task: str
    model: str
    class_names: tuple[str, ...]
    input: NetworkInput
    moe_layers: tuple[MoELayerSpec, ...]
    routing: str
    lowering: str
    graphs: dict[str, GraphEntry]
    plan: Plan
    source: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, Any] = field(default_factory=dict)
    engines: dict[str, EngineRecord] = field(default_factory=dict)
    strides: tuple[int, ...] = ()
    decoding: dict[str, Any] = field(default_factory=dict)
    config: Optional[dict[str, Any]] = None  # the model's config (bench rebuilds the model from it)
    checks: Optional[dict[str, Any]] = None  # parity figures of the export

    @classmethod
    def parse(cls, data: Any, where: str) -> "Manifest":
        """The one reader: validates every field the runtime relies on; a problem is a one-line ManifestError."""
        if not isinstance(data, dict):
            raise _fail(where, "manifest", "a JSON object", type(data).__name__)
        if data.get("format") != FORMAT:
            raise _fail(where, "format", repr(FORMAT), data.get("format"))
        if data.get("schema_version") != SCHEMA_VERSION:
            raise ManifestError(f"{where}: schema_version {data.get('schema_version')!r} is not supported (expected "
                                f"{SCHEMA_VERSION}); re-export with this edge-moe")
        task = _get(data, "task", where, "", str, f"one of {list(TASKS)}")
        if task not in TASKS:
            raise _fail(where, "task", f"one of {list(TASKS)}", task)
        routing = _get(data, "routing", where, "", str, f"one of {list(ROUTINGS)}")
        if routing not in ROUTINGS:
            raise _fail(where, "routing", f"one of {list(ROUTINGS)}", routing)
        names = _get(data, "class_names", where, "", list, "a list of strings")
        if not all(isinstance(c, str) for c in names):
            raise _fail(where, "class_names", "a list of strings", names)
        graphs_data = _get(data, "graphs", where, "", dict, "a non-empty object {name: {file, sha256}}")
        if not graphs_data:
            raise _fail(where, "graphs", "a non-empty object {name: {file, sha256}}", graphs_data)
        graphs = {name: GraphEntry.parse(entry, where, f"graphs.{name}") for name, entry in graphs_data.items()}
        plan = Plan.parse(_get(data, "plan", where, "", dict, "an object {steps, slot_masks}"), where)
        for i, step in enumerate(plan.steps):
            named = [step.graph] if isinstance(step, RunStep) else list(step.graphs)
            unknown = [n for n in named if n not in graphs]
            if unknown:
                raise ManifestError(f"{where}: plan.steps[{i}] names unknown graph(s) {unknown}")
        engines_data = _get(data, "engines", where, "", dict, "an object {graph: engine record}", {})
        strides = _get(data, "strides", where, "", list, "a list of integers", [])
        optional = {key: _get(data, key, where, "", dict, "an object", None) for key in ("config", "checks")}
        return cls(
            task=task, model=_get(data, "model", where, "", str, "a model name"), class_names=tuple(names),
            input=NetworkInput.parse(_get(data, "input", where, "", dict, "an object {name, shape, ...}"), where),
            moe_layers=tuple(MoELayerSpec.parse(layer, where, f"moe_layers[{i}]")
                             for i, layer in enumerate(_get(data, "moe_layers", where, "", list, "a list of {name, experts, top_k}"))),
            routing=routing, lowering=_get(data, "lowering", where, "", str, "a lowering name"), graphs=graphs, plan=plan,
            source=_get(data, "source", where, "", dict, "an object", {}), versions=_get(data, "versions", where, "", dict, "an object", {}),
            engines={name: EngineRecord.parse(e, where, f"engines.{name}") for name, e in engines_data.items()},
            strides=tuple(strides), decoding=_get(data, "decoding", where, "", dict, "an object", {}), **optional,
        )

    def to_json(self) -> dict[str, Any]:
        """The one writer (plain JSON types; ``manifest_text`` renders it)."""
        out: dict[str, Any] = {
            "format": FORMAT, "schema_version": SCHEMA_VERSION, "task": self.task, "model": self.model,
            "class_names": list(self.class_names), "input": self.input.to_json(), "strides": list(self.strides),
            "decoding": self.decoding, "moe_layers": [layer.to_json() for layer in self.moe_layers], "routing": self.routing,
            "lowering": self.lowering, "graphs": {name: g.to_json() for name, g in self.graphs.items()},
            "plan": self.plan.to_json(), "source": self.source, "versions": self.versions,
            "engines": {name: e.to_json() for name, e in self.engines.items()},
        }
        for key in ("config", "checks"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    def files(self) -> list[tuple[str, FileRef]]:
        """(field path, file) of every file the manifest names: graphs, their FP16 twins, engines."""
        entries: list[tuple[str, FileRef]] = []
        for name, graph in self.graphs.items():
            entries.append((f"graphs.{name}", FileRef(graph.file, graph.sha256)))
            if graph.fp16 is not None:
                entries.append((f"graphs.{name}.fp16", graph.fp16))
        entries += [(f"engines.{name}", FileRef(e.file, e.sha256)) for name, e in self.engines.items()]
        return entries

    def replace(self, **changes: Any) -> "Manifest":
        return replace(self, **changes)


__all__ = ["ExpertsStep", "EngineRecord", "FileRef", "GraphEntry", "Manifest", "ManifestError", "MoELayerSpec",
           "NetworkInput", "Plan", "RunStep", "Step", "TensorSpec"]
