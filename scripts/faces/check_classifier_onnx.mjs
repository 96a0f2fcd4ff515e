#!/usr/bin/env node
// Check the exported attribute classifier with onnxruntime-node against PyTorch's outputs.
//   node scripts/faces/check_classifier_onnx.mjs [model/checkpoints/classifier64]
// Reads <prefix>.onnx and <prefix>.reference.json (written by `python3 -m model.nets.classifier train`).
import fs from "node:fs";
import ort from "onnxruntime-node";

const prefix = process.argv[2] ?? "model/checkpoints/classifier64";
const ref = JSON.parse(fs.readFileSync(`${prefix}.reference.json`, "utf8"));
const session = await ort.InferenceSession.create(`${prefix}.onnx`);
if (session.inputNames[0] !== "image" || session.outputNames[0] !== "logits") {
  throw new Error(`unexpected I/O names ${session.inputNames} -> ${session.outputNames}`);
}
const image = new ort.Tensor("float32", Float32Array.from(ref.image), ref.shape);
const out = await session.run({ image });
const logits = out.logits;
if (JSON.stringify(logits.dims) !== JSON.stringify(ref.logitsShape)) {
  throw new Error(`logits dims ${logits.dims}, want ${ref.logitsShape}`);
}
let maxErr = 0;
for (let i = 0; i < logits.data.length; i++) maxErr = Math.max(maxErr, Math.abs(logits.data[i] - ref.logits[i]));
console.log(`classifier ONNX ${prefix}.onnx: logits ${logits.dims.join("x")}, max |ort - torch| = ${maxErr.toExponential(2)}`);
if (!(maxErr < 1e-3)) { console.error("FAIL: mismatch"); process.exit(1); }
console.log("OK");
