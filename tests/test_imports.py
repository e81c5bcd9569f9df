import subprocess
import sys

import pytest


# edge_moe.runtime loads its public names lazily, so import the modules that do the work too.
RUNTIME_MODULES = [
    "edge_moe.runtime.detector",
    "edge_moe.runtime.report",
    "edge_moe.runtime.sinks",
    "edge_moe.runtime.sources",
    "edge_moe.runtime.plan",
    "edge_moe.runtime.bundle",
    "edge_moe.runtime.backends.select",
    "edge_moe.runtime.backends.onnxruntime_backend",
    "edge_moe.runtime.memory",
    "edge_moe.runtime.schema",
    "edge_moe.runtime.names",
]


@pytest.mark.parametrize("module", ["edge_moe", "edge_moe.runtime", "edge_moe.cli", *RUNTIME_MODULES])
def test_import_does_not_pull_torch(module):
    code = f"import sys, {module}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", f"import {module} imported torch"


def test_namespace_maps_top_level_folders():
    import edge_moe.exporters
    import edge_moe.runtime
    import edge_moe.trainers

    for module, folder in [(edge_moe.trainers, "trainers"), (edge_moe.exporters, "exporters"), (edge_moe.runtime, "runtime")]:
        assert module.__file__.replace("\\", "/").endswith(f"{folder}/__init__.py")
