"""Deployment bundles: the manifest schema and its validation on load (torch-free).

A bundle is a directory::

    manifest.json          what the runtime needs (see MANIFEST_KEYS and the export docs)
    graphs/*.onnx          FP32 graphs (and graphs/fp16/*.onnx, FP16 weights with FP32 I/O)
    engines/*.engine       TensorRT plans, after ``edge-moe build-engine``

``load_bundle`` checks the schema, that every file named by the manifest stays inside the bundle,
and the sha256 of every file, and raises a one-line :class:`UserError` naming the field or file.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Optional

from edge_moe.errors import UserError

FORMAT = "edge-moe-bundle"
SCHEMA_VERSION = 2  # 2: the graph that routes an MoE layer takes its slot mask (sparse plans too)
MANIFEST = "manifest.json"
MANIFEST_KEYS = (
    "format", "schema_version", "task", "model", "class_names", "input", "strides", "decoding",
    "moe_layers", "routing", "lowering", "graphs", "plan", "source", "versions", "engines",
)
ROUTINGS = ("sparse", "dense")


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def inside(root: Path, relative: Any, field: str) -> Path:
    """``root / relative`` after checking that it is a relative path that stays inside ``root``."""
    if not isinstance(relative, str) or not relative:
        raise UserError(f"{root / MANIFEST}: {field} must be a relative file path, got {relative!r}")
    pure = PurePosixPath(relative.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or Path(relative).is_absolute():
        raise UserError(f"{root / MANIFEST}: {field} = {relative!r} points outside the bundle (expected a path inside it)")
    path = root / pure
    if not path.resolve().is_relative_to(root.resolve()):
        raise UserError(f"{root / MANIFEST}: {field} = {relative!r} resolves outside the bundle (symlink?)")
    return path


@dataclass
class Bundle:
    """A validated bundle. ``manifest`` is the parsed JSON; the properties are its common fields."""

    root: Path
    manifest: dict[str, Any]

    @property
    def model(self) -> str:
        return self.manifest["model"]

    @property
    def class_names(self) -> list[str]:
        return list(self.manifest["class_names"])

    @property
    def input_size(self) -> tuple[int, int]:
        """(H, W) of the letterboxed network input (NCHW float32, or NHWC uint8 normalised in-graph)."""
        entry = self.manifest["input"]
        shape = entry["shape"]
        height, width = (shape[1], shape[2]) if entry.get("layout") == "NHWC" else (shape[2], shape[3])
        return int(height), int(width)

    @property
    def moe_layers(self) -> list[dict[str, Any]]:
        """``[{name, experts, top_k}]`` in forward order (empty for a dense model)."""
        return list(self.manifest["moe_layers"])

    @property
    def routing(self) -> str:
        return self.manifest["routing"]

    @property
    def graphs(self) -> dict[str, dict[str, Any]]:
        return self.manifest["graphs"]

    @property
    def engines(self) -> dict[str, dict[str, Any]]:
        """Engine metadata per graph name (TensorRT version, GPU, precision, ONNX hash, ...)."""
        return self.manifest.get("engines") or {}

    @property
    def plan(self) -> dict[str, Any]:
        return self.manifest["plan"]

    def graph_path(self, name: str, precision: str = "fp32") -> Path:
        """The ONNX file of graph ``name`` (``precision="fp16"``: the FP16-weights variant)."""
        if name not in self.graphs:
            raise UserError(f"{self.root}: bundle has no graph {name!r}; graphs: {sorted(self.graphs)}")
        entry = self.graphs[name]
        if precision == "fp16":
            if "fp16" not in entry:
                raise UserError(f"{self.root}: graph {name!r} has no FP16 ONNX; re-export the bundle")
            entry = entry["fp16"]
        return self.root / entry["file"]

    def engine_path(self, name: str) -> Path:
        if name not in self.engines:
            raise UserError(f"{self.root}: no TensorRT engine for graph {name!r}; run `edge-moe build-engine {self.root}`")
        return self.root / self.engines[name]["file"]


def load_bundle(path: str | Path, verify_hashes: bool = True) -> Bundle:
    """Reads and validates ``path/manifest.json`` and the files it names."""
    root = Path(path)
    manifest_path = root / MANIFEST
    if not root.is_dir():
        raise UserError(f"{root}: not a bundle directory (expected a folder with {MANIFEST})")
    if not manifest_path.is_file():
        raise UserError(f"{root}: no {MANIFEST}; is this an edge-moe bundle? (create one with `edge-moe export`)")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (ValueError, UnicodeDecodeError) as error:
        raise UserError(f"{manifest_path}: invalid JSON ({error})") from None
    validate_manifest(root, manifest)
    for field, entry in file_entries(manifest):
        file = inside(root, entry.get("file"), f"{field}.file")
        if not file.is_file():
            raise UserError(f"{file}: missing (named by {field} in {manifest_path}); re-export the bundle")
        if verify_hashes and sha256_of(file) != entry.get("sha256"):
            raise UserError(f"{file}: sha256 does not match {field}.sha256 in {manifest_path} (file altered or corrupt)")
    return Bundle(root, manifest)


def file_entries(manifest: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(field path, {file, sha256}) of every file the manifest names."""
    entries = []
    for name, entry in manifest["graphs"].items():
        entries.append((f"graphs.{name}", entry))
        if isinstance(entry.get("fp16"), dict):
            entries.append((f"graphs.{name}.fp16", entry["fp16"]))
    for name, entry in (manifest.get("engines") or {}).items():
        entries.append((f"engines.{name}", entry))
    return entries


def validate_manifest(root: Path, manifest: Any) -> None:
    where = root / MANIFEST
    if not isinstance(manifest, dict):
        raise UserError(f"{where}: expected a JSON object")
    if manifest.get("format") != FORMAT:
        raise UserError(f"{where}: format is {manifest.get('format')!r}, expected {FORMAT!r}")
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise UserError(f"{where}: schema_version {manifest.get('schema_version')!r} is not supported (expected {SCHEMA_VERSION}); re-export with this edge-moe")
    missing = [key for key in MANIFEST_KEYS if key not in manifest]
    if missing:
        raise UserError(f"{where}: missing field(s) {missing}")
    shape = manifest["input"].get("shape") if isinstance(manifest["input"], dict) else None
    nhwc = isinstance(manifest["input"], dict) and manifest["input"].get("layout") == "NHWC"
    channels_ok = isinstance(shape, list) and (shape[3:] == [3] if nhwc else shape[:2] == [1, 3]) and shape[:1] == [1]
    if not (channels_ok and len(shape) == 4 and all(isinstance(v, int) and v > 0 for v in shape)):
        raise UserError(f"{where}: input.shape must be {'[1, H, W, 3]' if nhwc else '[1, 3, H, W]'} with positive ints, got {shape!r}")
    if manifest["routing"] not in ROUTINGS:
        raise UserError(f"{where}: routing must be one of {list(ROUTINGS)}, got {manifest['routing']!r}")
    if not isinstance(manifest["class_names"], list) or not all(isinstance(c, str) for c in manifest["class_names"]):
        raise UserError(f"{where}: class_names must be a list of strings")
    for i, layer in enumerate(manifest["moe_layers"]):
        if not (isinstance(layer, dict) and isinstance(layer.get("name"), str)
                and isinstance(layer.get("experts"), int) and isinstance(layer.get("top_k"), int)
                and 1 <= layer["top_k"] <= layer["experts"]):
            raise UserError(f"{where}: moe_layers[{i}] must be {{name, experts, top_k}} with 1 <= top_k <= experts, got {layer!r}")
    if not isinstance(manifest["graphs"], dict) or not manifest["graphs"]:
        raise UserError(f"{where}: graphs must be a non-empty object of {{name: {{file, sha256}}}}")
    for field, entry in file_entries(manifest):
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
            raise UserError(f"{where}: {field} must be an object with file and sha256")
    steps = manifest["plan"].get("steps") if isinstance(manifest["plan"], dict) else None
    if not isinstance(steps, list) or not steps:
        raise UserError(f"{where}: plan.steps must be a non-empty list")
    for i, step in enumerate(steps):
        names = [step["run"]] if "run" in step else list(step.get("graphs", []))
        unknown = [n for n in names if n not in manifest["graphs"]]
        if unknown or not names:
            raise UserError(f"{where}: plan.steps[{i}] names unknown graph(s) {unknown or step!r}")


@dataclass(frozen=True)
class EngineFlavour:
    """What the runtime needs to know about an engine's TensorRT flavour (the manifest's ``engines.*.flavour``)."""

    name: str  # "tensorrt" | "tensorrt-rtx"
    label: str  # how people write it: "TensorRT" | "TensorRT-RTX"
    module: str  # the Python module that loads it
    extra: str  # the pip extra that provides it
    portable: bool  # runs on any GPU of its recorded compute capabilities, not only the GPU that built it
    runtime_cache: bool  # JIT-compiles kernels at load; a runtime cache file keeps later starts fast


ENGINE_FLAVOURS = {
    "tensorrt": EngineFlavour("tensorrt", "TensorRT", "tensorrt", "edge-moe[tensorrt]", portable=False, runtime_cache=False),
    "tensorrt-rtx": EngineFlavour("tensorrt-rtx", "TensorRT-RTX", "tensorrt_rtx", "edge-moe[tensorrt-rtx]", portable=True, runtime_cache=True),
}


def engine_flavour(bundle: Bundle) -> EngineFlavour:
    """The flavour of a bundle's engines (records written before flavours existed are TensorRT proper)."""
    names = {meta.get("flavour", "tensorrt") for meta in bundle.engines.values()} or {"tensorrt"}
    unknown = names - set(ENGINE_FLAVOURS)
    if unknown or len(names) > 1:
        raise UserError(f"{bundle.root / MANIFEST}: engines have flavour(s) {sorted(names)}; expected one of "
                        f"{sorted(ENGINE_FLAVOURS)} for all; rebuild with `edge-moe build-engine {bundle.root}`")
    return ENGINE_FLAVOURS[names.pop()]


def check_engine(bundle: Bundle, name: str, tensorrt_version: str, gpu_name: str, compute_capability: Optional[str] = None) -> Path:
    """The engine file of graph ``name`` if it can run here, else a UserError saying how to rebuild.

    A TensorRT plan runs only on the TensorRT version and GPU model that built it (unless it was
    built version-compatible, in which case any TensorRT of the same major version may load it).
    A TensorRT-RTX engine runs on any GPU whose compute capability it targets.
    """
    path = bundle.engine_path(name)
    meta = bundle.engines[name]
    flavour = engine_flavour(bundle)
    rebuild = f"rebuild with `edge-moe build-engine {bundle.root}` on this machine"
    built_with = str(meta.get("tensorrt", "?"))
    same_version = built_with == tensorrt_version
    if meta.get("version_compatible"):
        same_version = built_with.split(".")[0] == tensorrt_version.split(".")[0]
    if not same_version:
        raise UserError(f"{path}: engine built with {flavour.label} {built_with}, this machine has {flavour.label} {tensorrt_version}; {rebuild}")
    if flavour.portable:
        targets = meta.get("compute_capabilities") or []
        if compute_capability not in targets:
            raise UserError(f"{path}: engine targets compute capabilities {targets}, this GPU ({gpu_name}) has {compute_capability}; "
                            f"{rebuild} (or with --compute-capability {compute_capability})")
    elif meta.get("gpu") != gpu_name and not meta.get("hardware_compatible"):
        raise UserError(f"{path}: engine built for GPU {meta.get('gpu')!r}, this machine has {gpu_name!r}; {rebuild}")
    if meta.get("onnx_sha256") != bundle.graphs.get(name, {}).get("sha256") and meta.get("onnx_sha256") != bundle.graphs.get(name, {}).get("fp16", {}).get("sha256"):
        raise UserError(f"{path}: engine was built from another ONNX graph than graphs.{name}; {rebuild}")
    return path


def manifest_text(manifest: dict[str, Any]) -> str:
    """The canonical JSON text of a manifest (sorted keys, 2-space indent)."""
    return json.dumps(manifest, indent=2, sort_keys=True) + "\n"


def graph_entry(root: Path, relative: str, extra: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """``{file, sha256, **extra}`` for a file already written inside ``root``."""
    return {"file": relative, "sha256": sha256_of(root / relative), **(extra or {})}
