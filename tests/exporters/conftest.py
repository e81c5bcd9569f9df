from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def pico_bundles(tmp_path_factory) -> dict[str, Path]:
    """Sparse and dense esmoe-pico bundles at 64x64, exported once for the exporter tests."""
    from edge_moe.exporters.export import export_with_report

    root = tmp_path_factory.mktemp("pico")
    export_with_report("esmoe-pico", root / "sparse", imgsz=64, parity_count=1, other_out=root / "dense")
    return {"sparse": root / "sparse", "dense": root / "dense"}


@pytest.fixture(scope="session")
def zoo_bundles(tmp_path_factory) -> dict[str, Path]:
    """Every zoo model's sparse and dense bundle at 64x64 ("esmoe-n/sparse", ...; dense models have one bundle)."""
    from edge_moe.exporters.export import export_with_report
    from edge_moe.models.registry import list_models

    root = tmp_path_factory.mktemp("zoo")
    bundles = {}
    for name in list_models():
        export_with_report(name, root / name / "sparse", imgsz=64, parity_count=1, other_out=root / name / "dense")
        bundles.update({f"{name}/{p.name}": p for p in (root / name).iterdir()})
    return bundles
