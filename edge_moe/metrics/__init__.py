"""Evaluation metrics: COCO box metrics via pycocotools and MoE routing health."""
from edge_moe.metrics.coco import ImagePrediction, ImageTruth, coco_metrics
from edge_moe.metrics.routing import LayerUsage, format_usage, health_warnings, specialisation

__all__ = ["ImagePrediction", "ImageTruth", "LayerUsage", "coco_metrics", "format_usage", "health_warnings", "specialisation"]
