"""Detection data: the synthetic generator, YOLO data.yaml and COCO JSON readers, augmentation.

``load_data(spec)`` is the entry point (``--data synthetic[:opts] | digits[:opts] | data.yaml | instances.json``).
Torch-dependent datasets live in :mod:`edge_moe.data.loader`, imported on demand.
"""
from edge_moe.data.samples import FileSource, Labels, MemorySource, Sample, SampleSource
from edge_moe.data.spec import DataSet, load_data
from edge_moe.data.synthetic import REGIMES, SyntheticSpec, generate, parse_synthetic, render_frames, write_yolo

__all__ = [
    "REGIMES",
    "DataSet",
    "FileSource",
    "Labels",
    "MemorySource",
    "Sample",
    "SampleSource",
    "SyntheticSpec",
    "generate",
    "load_data",
    "parse_synthetic",
    "render_frames",
    "write_yolo",
]
