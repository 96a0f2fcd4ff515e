"""Running exported ONNX graphs from Python: onnxruntime-node bridge and a small torch interpreter."""
