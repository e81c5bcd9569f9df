"""Model zoo (needs torch): ``create_model(name, **overrides)``, ``list_models()``."""
from edge_moe.models.config import DetectorConfig, MoEConfig
from edge_moe.models.detector import MoEDetector
from edge_moe.models.detectors import detector_from_config
from edge_moe.models.program import Program, Step
from edge_moe.models.registry import UnknownModelError, create_model, list_models, model_from_config, register_model
from edge_moe.models.xray import XrayClassifier, XrayConfig

__all__ = [
    "DetectorConfig",
    "MoEConfig",
    "MoEDetector",
    "Program",
    "Step",
    "UnknownModelError",
    "XrayClassifier",
    "XrayConfig",
    "create_model",
    "detector_from_config",
    "list_models",
    "model_from_config",
    "register_model",
]
