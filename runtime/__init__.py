"""edge_moe.runtime: torch-free inference on cameras, files and streams (numpy + OpenCV + a backend).

Nothing here may import torch, directly or through another edge_moe package: on a Jetson the
runtime is installed without it. Backends (onnxruntime, tensorrt) are imported lazily.
"""
