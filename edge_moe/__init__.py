"""edge-moe: Mixture-of-Experts vision models from training to live camera inference.

Importing this package must stay cheap and torch-free: on a Jetson only the runtime is installed.
Model code lives in ``edge_moe.models`` and ``edge_moe.moe`` and imports torch itself.
"""
__version__ = "0.1.0"

from edge_moe.errors import UserError

__all__ = ["UserError", "__version__"]
