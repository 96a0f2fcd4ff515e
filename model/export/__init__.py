"""From a loaded generator to a model pack: graph functions, autograd tracing, ONNX writing, manifest, checks."""
