"""F/Z+ Studio model toolchain (PyTorch). Layers, bottom to top:

    nets/     networks: StyleGAN2 generator/discriminator, inversion encoder, perceptual terms, attribute classifier
    load/     checkpoint readers (rosinality .pt, NVIDIA ada .pkl) and the one restricted unpickler every load uses
    export/   graph functions, autograd tracing, Winograd, fp16, ONNX pack writing, manifest, verify, regraph
    runtime/  running exported ONNX graphs from Python (onnxruntime-node bridge, a small torch interpreter)
    demo/     the bundled demo model: GAN / encoder training, classifier-fitted directions, pack extras
    eval/     fidelity report and CPU bench

CLI entry points: python3 -m model.export | model.verify | model.regraph | model.fidelity | model.bench
"""
