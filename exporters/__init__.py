"""edge_moe.exporters: ONNX lowerings, export checks, the TensorRT builder and the bundle writer."""
