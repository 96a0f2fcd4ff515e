#!/usr/bin/env node
// Counterfactual pairs of held-out faces: the same facesjs config drawn twice, once as it is and once with exactly
// one attribute added (a hat on the same head, glasses on the same eyes, a darker skin with everything else kept).
// They are what a perfect slider would do, so the edit test run on them (model/eval/counterfactual.py) measures the
// test itself: how far the classifier's other heads move when only the own attribute changed.
//
// Usage (defaults shown):
//   node scripts/faces/counterfactual.mjs --data data/faces-64 --split heldout --n 200 --res 64 \
//        --out data/faces-64-counterfactual
//
// Output: <attr>_base.npy / <attr>_edit.npy [n_attr, R, R, 3] uint8, <attr>_index.npy (face indices in the split,
// int32), <attr>_labels.npy [n_attr, 2, K] float32 (render.mjs' label columns of the face and of its edit) and
// meta.json (the rule for every attribute, counts, crop). Only faces without the attribute are edited; a rule
// that needs a particular face (facial hair: male faces, as facesjs draws it) says so in meta.json.
import fs from "node:fs";
import path from "node:path";
import {
  BALD, COLUMNS, HATS, LIGHT_HAIR, OPEN_MOUTHS, SKIN, SMILE_MOUTHS, faceRng, faceSvg, labelRow, luminance, npyHeader,
  rasterize,
} from "./render.mjs";
import { svgsIndex } from "facesjs";

const pick = (rng, xs) => xs[Math.floor(rng() * xs.length)];
const DARK_SKIN = SKIN.filter((c) => luminance(c) < 0.5);
const GLASSES = svgsIndex.glasses.filter((g) => g !== "none" && g !== "facemask");
const BEARDS = svgsIndex.facialHair.filter((g) => g !== "none");
const LONG = svgsIndex.hairBg.filter((g) => g !== "none");
const SMILE_OPEN = [...SMILE_MOUTHS].filter((m) => OPEN_MOUTHS.has(m));
const SMILE_CLOSED = [...SMILE_MOUTHS].filter((m) => !OPEN_MOUTHS.has(m));
const OPEN_PLAIN = [...OPEN_MOUTHS].filter((m) => !SMILE_MOUTHS.has(m));

/** attribute -> {rule (what is changed), edit(face, rng) -> edited copy, or null when the face already has it} */
export const EDITS = {
  smile: {
    rule: "mouth -> a smiling mouth that is open exactly when the original was",
    edit: (f, rng) => SMILE_MOUTHS.has(f.mouth.id) ? null
      : { ...f, mouth: { ...f.mouth, id: pick(rng, OPEN_MOUTHS.has(f.mouth.id) ? SMILE_OPEN : SMILE_CLOSED) } },
  },
  mouth_open: {
    rule: "mouth -> an open mouth that smiles exactly when the original did",
    edit: (f, rng) => OPEN_MOUTHS.has(f.mouth.id) ? null
      : { ...f, mouth: { ...f.mouth, id: pick(rng, SMILE_MOUTHS.has(f.mouth.id) ? SMILE_OPEN : OPEN_PLAIN) } },
  },
  glasses: {
    rule: "glasses none -> one of facesjs' glasses",
    edit: (f, rng) => f.glasses.id !== "none" ? null : { ...f, glasses: { id: pick(rng, GLASSES) } },
  },
  facial_hair: {
    rule: "facial hair none -> one of facesjs' beards (male faces only, as facesjs draws them)",
    edit: (f, rng) => f.facialHair.id !== "none" || f.gender !== "male" ? null : { ...f, facialHair: { id: pick(rng, BEARDS) } },
  },
  hat: {
    rule: "accessory none -> one of facesjs' hats",
    edit: (f, rng) => f.accessories.id !== "none" ? null : { ...f, accessories: { id: pick(rng, [...HATS]) } },
  },
  light_hair: {
    rule: "dark hair colour -> a light one (blond, ginger, light brown)",
    edit: (f, rng) => LIGHT_HAIR.has(f.hair.color) || BALD.has(f.hair.id) ? null
      : { ...f, hair: { ...f.hair, color: pick(rng, [...LIGHT_HAIR]) } },
  },
  long_hair: {
    rule: "no long hair behind the head -> one of facesjs' long-hair backs",
    edit: (f, rng) => f.hairBg.id !== "none" ? null : { ...f, hairBg: { id: pick(rng, LONG) } },
  },
  dark_skin: {
    rule: "light skin -> a dark skin colour of facesjs' palettes; hair kept",
    edit: (f, rng) => luminance(f.body.color) < 0.5 ? null : { ...f, body: { ...f.body, color: pick(rng, DARK_SKIN) } },
  },
  fatness: {
    rule: "fatness + 0.3 (faces with fatness <= 0.7)",
    edit: (f) => f.fatness > 0.7 ? null : { ...f, fatness: Math.round((f.fatness + 0.3) * 100) / 100 },
  },
  bald: {
    rule: "hair -> bald, colour kept (male faces only, as facesjs draws it)",
    edit: (f) => BALD.has(f.hair.id) || f.gender !== "male" ? null : { ...f, hair: { ...f.hair, id: "bald" } },
  },
  eyebrow_angle: {
    rule: "eyebrow angle + 10 degrees (faces with angle <= 10)",
    edit: (f) => f.eyebrow.angle > 10 ? null : { ...f, eyebrow: { ...f.eyebrow, angle: f.eyebrow.angle + 10 } },
  },
};
// 'male' has no one-property counterfactual: facesjs draws hair, eyes, eyebrows and more from the gender.
export const NO_COUNTERFACTUAL = { male: "facesjs draws hair, eyes, eyebrows and face shape from the gender" };

function parseArgs(argv) {
  const o = { data: "data/faces-64", split: "heldout", n: 200, res: 64, out: null };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, "");
    if (!(k in o) || argv[i + 1] === undefined) throw new Error(`bad argument ${argv[i]}`);
    o[k] = ["n", "res"].includes(k) ? Number(argv[i + 1]) : argv[i + 1];
  }
  o.out ??= `${o.data}-counterfactual`;
  return o;
}

function writeNpy(file, dtype, shape, buf) {
  fs.writeFileSync(file, Buffer.concat([npyHeader(dtype, shape), Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)]));
}

function main() {
  const o = parseArgs(process.argv.slice(2));
  const meta = JSON.parse(fs.readFileSync(path.join(o.data, "meta.json"), "utf8"));
  const faces = fs.readFileSync(path.join(o.data, `${o.split}_faces.jsonl`), "utf8").trim().split("\n").map((l) => JSON.parse(l));
  const opts = { crop: meta.crop };
  fs.mkdirSync(o.out, { recursive: true });
  const counts = {};
  const t0 = Date.now();
  for (const [attr, { edit }] of Object.entries(EDITS)) {
    const base = [], edited = [], index = [], labels = [];
    for (let k = 0; k < faces.length && index.length < o.n; k++) {
      const { i, ...face } = faces[k];
      const e = edit(face, faceRng(meta.seed, `counterfactual-${attr}`, i));
      if (!e) continue;
      base.push(rasterize(faceSvg(face, opts, o.res), o.res, meta.background));
      edited.push(rasterize(faceSvg(e, opts, o.res), o.res, meta.background));
      index.push(k);
      labels.push(...labelRow(face), ...labelRow(e));
    }
    const shape = [index.length, o.res, o.res, 3];
    writeNpy(path.join(o.out, `${attr}_base.npy`), "|u1", shape, Buffer.concat(base));
    writeNpy(path.join(o.out, `${attr}_edit.npy`), "|u1", shape, Buffer.concat(edited));
    writeNpy(path.join(o.out, `${attr}_index.npy`), "<i4", [index.length], Int32Array.from(index));
    writeNpy(path.join(o.out, `${attr}_labels.npy`), "<f4", [index.length, 2, COLUMNS.length], Float32Array.from(labels));
    counts[attr] = index.length;
    process.stderr.write(`${attr}: ${index.length} pairs (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
  }
  fs.writeFileSync(path.join(o.out, "meta.json"), JSON.stringify({
    command: `node scripts/faces/counterfactual.mjs ${process.argv.slice(2).join(" ")}`.trim(),
    data: o.data, split: o.split, res: o.res, columns: COLUMNS.map((c) => c.name), crop: meta.crop, counts,
    rules: Object.fromEntries(Object.entries(EDITS).map(([a, { rule }]) => [a, rule])),
    noCounterfactual: NO_COUNTERFACTUAL,
    credit: meta.credit,
  }, null, 1));
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) main();
