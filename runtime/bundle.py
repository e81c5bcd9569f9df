"""Deployment bundles: load and validate (torch-free). The manifest's schema is :mod:`edge_moe.runtime.schema`.

A bundle is a directory::

    manifest.json          what the runtime needs (runtime/schema.py: Manifest)
    graphs/*.onnx          FP32 graphs (and graphs/fp16/*.onnx, FP16 weights with FP32 I/O)
    engines/*.engine       TensorRT plans, after ``edge-moe build-engine``

``load_bundle`` parses the manifest with the schema's one reader, checks that every file it names
stays inside the bundle, and the sha256 of every file; a problem is a one-line :class:`UserError`
naming the field or file. ``write_manifest`` is the one writer.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Optional

from edge_moe.errors import UserError
from edge_moe.runtime.schema import FORMAT, SCHEMA_VERSION, EngineRecord, GraphEntry, Manifest, MoELayerSpec, NetworkInput, Plan

MANIFEST = "manifest.json"
__all__ = ["FORMAT", "SCHEMA_VERSION", "MANIFEST", "Bundle", "load_bundle", "write_manifest", "check_engine", "sha256_of"]


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
    """A validated bundle: its folder and its typed manifest; the properties are the common fields."""

    root: Path
    manifest: Manifest

    @property
    def model(self) -> str:
        return self.manifest.model

    @property
    def task(self) -> str:
        return self.manifest.task

    @property
    def class_names(self) -> list[str]:
        return list(self.manifest.class_names)

    @property
    def input(self) -> NetworkInput:
        return self.manifest.input

    @property
    def input_size(self) -> tuple[int, int]:
        """(H, W) of the letterboxed network input (NCHW float32, or NHWC uint8 normalised in-graph)."""
        return self.manifest.input.size

    @property
    def moe_layers(self) -> tuple[MoELayerSpec, ...]:
        """The MoE layers in forward order (empty for a dense model)."""
        return self.manifest.moe_layers

    @property
    def routing(self) -> str:
        return self.manifest.routing

    @property
    def graphs(self) -> dict[str, GraphEntry]:
        return self.manifest.graphs

    @property
    def engines(self) -> dict[str, EngineRecord]:
        """Engine record per graph name (flavour, TensorRT version, GPU or targets, precision, ONNX hash, ...)."""
        return self.manifest.engines

    @property
    def plan(self) -> Plan:
        return self.manifest.plan

    def graph_path(self, name: str, precision: str = "fp32") -> Path:
        """The ONNX file of graph ``name`` (``precision="fp16"``: the FP16-weights variant)."""
        if name not in self.graphs:
            raise UserError(f"{self.root}: bundle has no graph {name!r}; graphs: {sorted(self.graphs)}")
        entry = self.graphs[name]
        if precision == "fp16":
            if entry.fp16 is None:
                raise UserError(f"{self.root}: graph {name!r} has no FP16 ONNX; re-export the bundle")
            return self.root / entry.fp16.file
        return self.root / entry.file

    def engine_path(self, name: str) -> Path:
        if name not in self.engines:
            raise UserError(f"{self.root}: no TensorRT engine for graph {name!r}; run `edge-moe build-engine {self.root}`")
        return self.root / self.engines[name].file


def load_bundle(path: str | Path, verify_hashes: bool = True) -> Bundle:
    """Reads and validates ``path/manifest.json`` and the files it names."""
    root = Path(path)
    manifest_path = root / MANIFEST
    if not root.is_dir():
        raise UserError(f"{root}: not a bundle directory (expected a folder with {MANIFEST})")
    if not manifest_path.is_file():
        raise UserError(f"{root}: no {MANIFEST}; is this an edge-moe bundle? (create one with `edge-moe export`)")
    try:
        data = json.loads(manifest_path.read_text())
    except (ValueError, UnicodeDecodeError) as error:
        raise UserError(f"{manifest_path}: invalid JSON ({error})") from None
    manifest = Manifest.parse(data, str(manifest_path))
    for field, ref in manifest.files():
        file = inside(root, ref.file, f"{field}.file")
        if not file.is_file():
            raise UserError(f"{file}: missing (named by {field} in {manifest_path}); re-export the bundle")
        if verify_hashes and sha256_of(file) != ref.sha256:
            raise UserError(f"{file}: sha256 does not match {field}.sha256 in {manifest_path} (file altered or corrupt)")
    return Bundle(root, manifest)


def write_manifest(root: Path, manifest: Manifest) -> Path:
    """The one writer: the manifest's canonical JSON (sorted keys, 2-space indent), replaced atomically."""
    from edge_moe.runtime.sinks.atomic import atomic_write

    text = json.dumps(manifest.to_json(), indent=2, sort_keys=True) + "\n"
    return atomic_write(Path(root) / MANIFEST, lambda tmp: tmp.write_text(text))


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
    names = {record.get("flavour", "tensorrt") for record in bundle.engines.values()} or {"tensorrt"}
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
    graph = bundle.graphs[name]
    if meta.get("onnx_sha256") not in (graph.sha256, graph.fp16.sha256 if graph.fp16 else None):
        raise UserError(f"{path}: engine was built from another ONNX graph than graphs.{name}; {rebuild}")
    return path


def graph_file(root: Path, relative: str) -> dict[str, Any]:
    """``{file, sha256}`` for a file already written inside ``root``."""
    return {"file": relative, "sha256": sha256_of(root / relative)}
