from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def pico_bundles(tmp_path_factory) -> dict[str, Path]:
    """Sparse and dense esmoe-pico bundles at 64x64, exported once for the exporter tests."""
    from edge_moe.exporters.export import export_with_report

    root = tmp_path_factory.mktemp("pico")
    export_with_report("esmoe-pico", root / "sparse", imgsz=64, parity_count=1, other_out=root / "dense")
    return {"sparse": root / "sparse", "dense": root / "dense"}
