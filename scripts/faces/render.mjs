#!/usr/bin/env node
// Render procedurally drawn cartoon faces (facesjs, Apache-2.0, https://github.com/zengm-games/facesjs)
// with @resvg/resvg-js into NHWC uint8 .npy arrays plus per-face attribute labels.
//
// Deterministic: face i of split s is generated from a PRNG seeded by hash(`${seed}:${s}:${i}`), so the
// output does not depend on chunking or worker count, and train / held-out faces never coincide.
//
// Usage (defaults shown):
//   node scripts/faces/render.mjs --n 50000 --heldout 1000 --res 64 --seed 1 --workers 2 --chunk 2500
//   node scripts/faces/render.mjs --res 64,128          # both resolutions from the same faces
//   node scripts/faces/render.mjs --n 64 --heldout 16 --out /tmp/faces-test   # tiny run (tests)
//
// Output per resolution R (directory data/faces-R/ unless --out is given; with several resolutions
// --out gets a "-R" suffix):
//   train_images.npy    [N, R, R, 3] uint8 RGB        heldout_images.npy  [M, R, R, 3] uint8
//   train_labels.npy    [N, K] float32                heldout_labels.npy  [M, K] float32
//   train_faces.jsonl   one facesjs config per line   heldout_faces.jsonl
//   labels.json         column meta: {columns: [{name, kind: binary|categorical|regression, classes?}], ...}
//   meta.json           command, seeds, crop, versions
import { generate, faceToSvgString, svgsIndex } from "facesjs";
import { Resvg } from "@resvg/resvg-js";
import { fork } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const __filename = fileURLToPath(import.meta.url);

// ---------------------------------------------------------------- options
export const DEFAULTS = {
  n: 50000,
  heldout: 1000,
  res: "64",
  seed: 1,
  workers: 2,
  chunk: 2500,
  out: null,
  // Square crop of facesjs' 400x600 viewBox: x 20..380, y 140..500 (forehead to chin; hats/tall hair are
  // cut at the top). Eyes get ~10 px, the mouth ~8 px at 64x64.
  crop: "20,140,360",
  background: "#ffffff",
};

function parseArgs(argv) {
  const o = { ...DEFAULTS };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) throw new Error(`bad argument ${a}`);
    const k = a.slice(2);
    if (k === "worker") { o.worker = true; continue; }
    const v = argv[++i];
    if (v === undefined) throw new Error(`missing value for ${a}`);
    o[k] = ["n", "heldout", "seed", "workers", "chunk", "start", "count"].includes(k) ? Number(v) : v;
  }
  return o;
}

// ---------------------------------------------------------------- PRNG
function cyrb53(str, seed = 0) {
  let h1 = 0xdeadbeef ^ seed, h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < str.length; i++) {
    const ch = str.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (h2 >>> 0) * 4294967296 + (h1 >>> 0);
}
function mulberry32(a) {
  return function () {
    a |= 0; a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
export function faceRng(seed, split, i) {
  return mulberry32(cyrb53(`${seed}:${split}:${i}`) % 4294967296);
}

// ---------------------------------------------------------------- faces
/** Deterministic facesjs config for face i of a split (facesjs draws from Math.random: swap it in). */
export function makeFace(seed, split, i) {
  const rng = faceRng(seed, split, i);
  const saved = Math.random;
  Math.random = rng;
  try {
    const gender = rng() < 0.5 ? "female" : "male";
    const face = generate(undefined, { gender });
    face.gender = gender; // not used by facesjs' renderer; kept for labels
    return face;
  } finally {
    Math.random = saved;
  }
}

export function faceSvg(face, opts = DEFAULTS, res = 64) {
  const [x, y, s] = String(opts.crop).split(",").map(Number);
  // faceToSvgString mutates its argument: pass a copy.
  let svg = faceToSvgString(JSON.parse(JSON.stringify(face)));
  svg = svg
    .replace('viewBox="0 0 400 600"', `viewBox="${x} ${y} ${s} ${s}"`)
    .replace('width="100%" height="100%"', `width="${res}" height="${res}"`)
    .replace('preserveAspectRatio="xMinYMin meet"', 'preserveAspectRatio="xMidYMid slice"');
  return svg;
}

/** RGB uint8 buffer [res, res, 3] of a face (alpha composited over the background by resvg). */
export function rasterize(svg, res, background = DEFAULTS.background) {
  const r = new Resvg(svg, {
    font: { loadSystemFonts: false },
    background,
    fitTo: { mode: "width", value: res },
  });
  const img = r.render();
  if (img.width !== res || img.height !== res) throw new Error(`rendered ${img.width}x${img.height}, want ${res}`);
  const rgba = img.pixels;
  const rgb = Buffer.alloc(res * res * 3);
  for (let p = 0, q = 0; p < rgba.length; p += 4, q += 3) {
    rgb[q] = rgba[p]; rgb[q + 1] = rgba[p + 1]; rgb[q + 2] = rgba[p + 2];
  }
  return rgb;
}

// ---------------------------------------------------------------- labels
// Skin / hair palettes of facesjs 5.0.3's generate() (not exported by the package; copied here).
const colors = {
  white: { skin: ["#f2d6cb", "#ddb7a0"], hair: ["#272421", "#3D2314", "#5A3825", "#CC9966", "#2C1608", "#B55239", "#e9c67b", "#D7BF91"] },
  asian: { skin: ["#fedac7", "#f0c5a3", "#eab687"], hair: ["#272421", "#0f0902"] },
  brown: { skin: ["#bb876f", "#aa816f", "#a67358"], hair: ["#272421", "#1c1008"] },
  black: { skin: ["#ad6453", "#74453d", "#5c3937"], hair: ["#272421"] },
};
const uniq = (a) => [...new Set(a)];
export const SKIN = uniq(Object.values(colors).flatMap((c) => c.skin));
export const HAIR_COLORS = uniq(Object.values(colors).flatMap((c) => c.hair));
const RACES = ["white", "black", "brown", "asian"];
export const SMILE_MOUTHS = new Set(["smile", "smile2", "smile3", "smile4", "smile-closed", "mouth3", "mouth7", "mouth8"]);
export const OPEN_MOUTHS = new Set(["angry", "mouth", "mouth2", "mouth3", "mouth4", "mouth7", "mouth8", "smile", "smile2", "smile3"]);
export const HATS = new Set(["hat", "hat2", "hat3", "santa-hat"]);
const HEADBANDS = new Set(["headband", "headband-high"]);
export const BALD = new Set(["bald", "short-bald"]);
export const LIGHT_HAIR = new Set(["#CC9966", "#B55239", "#e9c67b", "#D7BF91"]); // blond / ginger / light brown

export function luminance(hex) {
  const v = parseInt(hex.slice(1), 16);
  const r = (v >> 16) & 255, g = (v >> 8) & 255, b = v & 255;
  return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
}
const shaveOf = (face) => Number(/rgba\(0,0,0,([0-9.]+)\)/.exec(face.head.shave)?.[1] ?? 0);

/** Label columns: name, kind, classes (categorical), and how to read it from a facesjs config. */
export const COLUMNS = [
  // binary
  { name: "male", kind: "binary", get: (f) => f.gender === "male" },
  { name: "smile", kind: "binary", get: (f) => SMILE_MOUTHS.has(f.mouth.id) },
  { name: "mouth_open", kind: "binary", get: (f) => OPEN_MOUTHS.has(f.mouth.id) },
  { name: "glasses", kind: "binary", get: (f) => f.glasses.id !== "none" && f.glasses.id !== "facemask" },
  { name: "facemask", kind: "binary", get: (f) => f.glasses.id === "facemask" },
  { name: "facial_hair", kind: "binary", get: (f) => f.facialHair.id !== "none" },
  { name: "hat", kind: "binary", get: (f) => HATS.has(f.accessories.id) },
  { name: "headband", kind: "binary", get: (f) => HEADBANDS.has(f.accessories.id) },
  { name: "eye_black", kind: "binary", get: (f) => f.accessories.id === "eye-black" },
  { name: "accessory", kind: "binary", get: (f) => f.accessories.id !== "none" },
  { name: "bald", kind: "binary", get: (f) => BALD.has(f.hair.id) },
  { name: "light_hair", kind: "binary", get: (f) => LIGHT_HAIR.has(f.hair.color) },
  { name: "long_hair", kind: "binary", get: (f) => f.hairBg.id !== "none" },
  { name: "dark_skin", kind: "binary", get: (f) => luminance(f.body.color) < 0.5 },
  { name: "eye_line", kind: "binary", get: (f) => f.eyeLine.id !== "none" },
  { name: "smile_line", kind: "binary", get: (f) => f.smileLine.id !== "none" },
  { name: "misc_line", kind: "binary", get: (f) => f.miscLine.id !== "none" },
  { name: "shaved", kind: "binary", get: (f) => shaveOf(f) > 0 },
  { name: "hair_flip", kind: "binary", get: (f) => !!f.hair.flip },
  { name: "mouth_flip", kind: "binary", get: (f) => !!f.mouth.flip },
  // categorical (class index into `classes`)
  { name: "race", kind: "categorical", classes: RACES, get: (f, c) => c.classes.indexOf(raceOf(f)) },
  { name: "skin_color", kind: "categorical", classes: SKIN, get: (f, c) => c.classes.indexOf(f.body.color) },
  { name: "hair_color", kind: "categorical", classes: HAIR_COLORS, get: (f, c) => c.classes.indexOf(f.hair.color) },
  ...["hair", "hairBg", "mouth", "glasses", "facialHair", "accessories", "head", "eye", "eyebrow", "nose", "ear",
    "eyeLine", "smileLine", "miscLine", "body", "jersey"].map((k) => ({
    name: `${k}_id`, kind: "categorical", classes: svgsIndex[k], get: (f, c) => c.classes.indexOf(f[k].id),
  })),
  // regression (raw value)
  { name: "fatness", kind: "regression", get: (f) => f.fatness },
  { name: "skin_lum", kind: "regression", get: (f) => luminance(f.body.color) },
  { name: "hair_lum", kind: "regression", get: (f) => luminance(f.hair.color) },
  { name: "eye_angle", kind: "regression", get: (f) => f.eye.angle },
  { name: "eyebrow_angle", kind: "regression", get: (f) => f.eyebrow.angle },
  { name: "nose_size", kind: "regression", get: (f) => f.nose.size },
  { name: "ear_size", kind: "regression", get: (f) => f.ear.size },
  { name: "smile_line_size", kind: "regression", get: (f) => f.smileLine.size },
  { name: "body_size", kind: "regression", get: (f) => f.body.size },
  { name: "shave", kind: "regression", get: (f) => shaveOf(f) },
];
function raceOf(f) {
  // facesjs does not store the race; recover it from the skin colour (palettes are disjoint).
  for (const r of RACES) if (colors[r].skin.includes(f.body.color)) return r;
  return "unknown";
}
export function labelRow(face) {
  return COLUMNS.map((c) => {
    const v = c.get(face, c);
    const x = typeof v === "boolean" ? (v ? 1 : 0) : Number(v);
    if (!Number.isFinite(x) || (c.kind === "categorical" && x < 0)) throw new Error(`label ${c.name} = ${v}`);
    return x;
  });
}
export const labelsMeta = () => ({
  columns: COLUMNS.map(({ name, kind, classes }) => (classes ? { name, kind, classes } : { name, kind })),
  notes: {
    smile: [...SMILE_MOUTHS], mouth_open: [...OPEN_MOUTHS], hat: [...HATS], headband: [...HEADBANDS],
    bald: [...BALD], light_hair: [...LIGHT_HAIR], dark_skin: "luminance(skin) < 0.5",
    race: "recovered from the skin colour palette", glasses: "glasses.id not in {none, facemask}",
  },
});

// ---------------------------------------------------------------- npy
export function npyHeader(dtype, shape) {
  const shp = `(${shape.join(", ")}${shape.length === 1 ? "," : ""})`;
  let h = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${shp}, }`;
  const total = 10 + h.length + 1;
  h = h + " ".repeat((64 - (total % 64)) % 64) + "\n";
  const buf = Buffer.alloc(10 + h.length);
  buf.write("\x93NUMPY", 0, "latin1");
  buf[6] = 1; buf[7] = 0;
  buf.writeUInt16LE(h.length, 8);
  buf.write(h, 10, "latin1");
  return buf;
}

// ---------------------------------------------------------------- worker: render a chunk to tmp files
function runWorker(o) {
  const resList = String(o.res).split(",").map(Number);
  const imgs = resList.map((r) => Buffer.alloc(o.count * r * r * 3));
  const labels = new Float32Array(o.count * COLUMNS.length);
  const lines = [];
  for (let j = 0; j < o.count; j++) {
    const i = o.start + j;
    const face = makeFace(o.seed, o.split, i);
    resList.forEach((r, k) => rasterize(faceSvg(face, o, r), r, o.background).copy(imgs[k], j * r * r * 3));
    labels.set(labelRow(face), j * COLUMNS.length);
    lines.push(JSON.stringify({ i, ...face }));
  }
  resList.forEach((r, k) => fs.writeFileSync(`${o.tmp}.${r}.u8`, imgs[k]));
  fs.writeFileSync(`${o.tmp}.labels.f32`, Buffer.from(labels.buffer));
  fs.writeFileSync(`${o.tmp}.jsonl`, lines.join("\n") + "\n");
}

function runChild(args) {
  return new Promise((resolve, reject) => {
    const p = fork(__filename, args, { stdio: "inherit" });
    p.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`worker exited ${code}: ${args.join(" ")}`))));
  });
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.worker) return runWorker(o);
  const resList = String(o.res).split(",").map(Number);
  const outDir = (r) => (o.out ? (resList.length > 1 ? `${o.out}-${r}` : o.out) : `data/faces-${r}`);
  resList.forEach((r) => fs.mkdirSync(outDir(r), { recursive: true }));  // also creates data/ on a fresh clone
  const tmpDir = fs.mkdtempSync(path.join(o.out ? path.dirname(outDir(resList[0])) : "data", ".render-"));
  const t0 = Date.now();
  for (const [split, n] of [["train", o.n], ["heldout", o.heldout]]) {
    const jobs = [];
    for (let s = 0; s < n; s += o.chunk) jobs.push({ start: s, count: Math.min(o.chunk, n - s) });
    let next = 0, done = 0;
    const lane = async () => {
      while (next < jobs.length) {
        const job = jobs[next++];
        job.tmp = path.join(tmpDir, `${split}-${String(job.start).padStart(8, "0")}`);
        await runChild(["--worker", "--split", split, "--start", String(job.start), "--count", String(job.count),
          "--seed", String(o.seed), "--res", String(o.res), "--crop", o.crop, "--background", o.background,
          "--tmp", job.tmp]);
        done += job.count;
        process.stderr.write(`\r${split}: ${done}/${n} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, o.workers) }, lane));
    process.stderr.write("\n");
    // assemble (streamed: chunk files appended in order)
    for (const r of resList) {
      const fd = fs.openSync(path.join(outDir(r), `${split}_images.npy`), "w");
      fs.writeSync(fd, npyHeader("|u1", [n, r, r, 3]));
      for (const j of jobs) { fs.writeSync(fd, fs.readFileSync(`${j.tmp}.${r}.u8`)); fs.rmSync(`${j.tmp}.${r}.u8`); }
      fs.closeSync(fd);
      const fl = fs.openSync(path.join(outDir(r), `${split}_labels.npy`), "w");
      fs.writeSync(fl, npyHeader("<f4", [n, COLUMNS.length]));
      for (const j of jobs) fs.writeSync(fl, fs.readFileSync(`${j.tmp}.labels.f32`));
      fs.closeSync(fl);
      const fj = fs.openSync(path.join(outDir(r), `${split}_faces.jsonl`), "w");
      for (const j of jobs) fs.writeSync(fj, fs.readFileSync(`${j.tmp}.jsonl`));
      fs.closeSync(fj);
    }
    for (const j of jobs) { fs.rmSync(`${j.tmp}.labels.f32`); fs.rmSync(`${j.tmp}.jsonl`); }
  }
  fs.rmSync(tmpDir, { recursive: true, force: true });
  const facesjsVersion = JSON.parse(fs.readFileSync(new URL("../../node_modules/facesjs/package.json", import.meta.url))).version;
  for (const r of resList) {
    fs.writeFileSync(path.join(outDir(r), "labels.json"), JSON.stringify(labelsMeta(), null, 1));
    fs.writeFileSync(path.join(outDir(r), "meta.json"), JSON.stringify({
      command: `node scripts/faces/render.mjs ${process.argv.slice(2).join(" ")}`.trim(),
      n: o.n, heldout: o.heldout, seed: o.seed, res: r, crop: o.crop, background: o.background,
      facesjs: facesjsVersion, credit: "faces drawn with facesjs (Apache-2.0) https://github.com/zengm-games/facesjs",
      seconds: (Date.now() - t0) / 1000,
    }, null, 1));
  }
  console.error(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s -> ${resList.map(outDir).join(", ")}`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === __filename) {
  main().catch((e) => { console.error(e); process.exit(1); });
}
