/**
 * A StyleGAN2 generator's tensors from a checkpoint object, in the rosinality/stylegan2-pytorch layout (the keys the
 * recipes read), and its architecture inferred from their shapes. Layouts read (as model/load/ does in Python):
 * rosinality {'g_ema', 'latent_avg'} (convert_weight.py), train.py's {'g', 'd', 'g_ema', 'args', ...}, a bare
 * Generator state dict, pSp / e4e ({'state_dict': {'decoder.*'}, 'latent_avg'}), and NVIDIA stylegan2-ada-pytorch
 * network pickles (G_ema's stubs mapped onto rosinality keys, 'skip' synthesis only). Only the generator's tensors
 * are referenced; the discriminator's and optimizers' are never read.
 */
import { PyDict, UnpickleError } from './pickle';
import { PersistentStub, TensorRef, isTensor, type CheckpointKind } from './torchfile';

/** One generator tensor: where its values are, and its shape in the rosinality layout. */
export interface SourceTensor {
  tensor: TensorRef;
  shape: number[];
}

export interface GeneratorTensors {
  source: 'rosinality' | 'stylegan2-ada-pytorch';
  /** e.g. "rosinality g_ema + latent_avg", "pSp/e4e decoder", "NVIDIA G_ema". */
  layout: string;
  tensors: Map<string, SourceTensor>;
  /** The checkpoint's w_avg, as a [styleDim] source; null when it has none (then it is mapped). */
  latentAvg: SourceTensor | null;
  lrMlp: number;
}

export interface Arch {
  size: number;
  styleDim: number;
  zDim: number;
  nMlp: number;
  channels: Record<string, number>;
}

const bad = (m: string) => new UnpickleError(m);

function dictToMap(d: PyDict, prefix = '', strip = ''): Map<string, SourceTensor> {
  const out = new Map<string, SourceTensor>();
  for (const [k, v] of d.map) {
    if (typeof k !== 'string' || !isTensor(v) || !k.startsWith(strip)) continue;
    out.set(prefix + k.slice(strip.length), { tensor: v, shape: v.shape });
  }
  return out;
}

function latentAvgOf(v: unknown, label: string): SourceTensor | null {
  if (v == null) return null;
  if (!isTensor(v)) throw bad(`${label}: latent_avg is not a tensor`);
  // [1, D] (mean_latent), [D] (converted), or pSp/e4e's [18, D]: its first row
  const d = v.shape[v.shape.length - 1];
  if (v.numel === d) return { tensor: v, shape: [d] };
  return { tensor: new TensorRef(v.storage, v.offset, [d], [v.stride[v.stride.length - 1]]), shape: [d] };
}

function rosinality(obj: PyDict, label: string): GeneratorTensors {
  const sd = obj.get('state_dict');
  if (!obj.has('g_ema') && sd instanceof PyDict && sd.has('decoder.style.1.weight')) {
    return { source: 'rosinality', layout: 'pSp/e4e decoder', tensors: dictToMap(sd, '', 'decoder.'), latentAvg: latentAvgOf(obj.get('latent_avg'), label), lrMlp: 0.01 };
  }
  const g = obj.get('g_ema') ?? (obj.has('style.1.weight') ? obj : undefined);
  if (!(g instanceof PyDict)) {
    const keys = obj
      .keys()
      .slice(0, 10)
      .map((k) => String(k))
      .join(', ');
    throw bad(`${label} holds no StyleGAN2 generator: no 'g_ema' (keys: ${keys || 'none'})`);
  }
  const latentAvg = latentAvgOf(obj.get('latent_avg'), label);
  return { source: 'rosinality', layout: g === obj ? 'generator state dict' : latentAvg ? "rosinality g_ema + latent_avg" : 'rosinality train.py', tensors: dictToMap(g), latentAvg, lrMlp: 0.01 };
}

// ---- NVIDIA stylegan2-ada-pytorch -----------------------------------------------------------------------------
function stubDict(s: PersistentStub, key: string): PyDict {
  const d = s.state.get(key);
  return d instanceof PyDict ? d : new PyDict();
}

/** Flattens a stub tree like nn.Module.state_dict(). */
function stubStateDict(stub: PersistentStub, prefix = '', out = new Map<string, TensorRef>(), stubs = new Map<string, PersistentStub>()) {
  stubs.set(prefix.replace(/\.$/, ''), stub);
  const skip = new Set((stub.state.get('_non_persistent_buffers_set') as unknown[] | undefined) ?? []);
  for (const group of ['_parameters', '_buffers']) {
    for (const [k, v] of stubDict(stub, group).map) if (isTensor(v) && !(group === '_buffers' && skip.has(k))) out.set(`${prefix}${String(k)}`, v);
  }
  for (const [k, m] of stubDict(stub, '_modules').map) {
    if (m instanceof PersistentStub) stubStateDict(m, `${prefix}${String(k)}.`, out, stubs);
    else if (m != null) throw bad(`unexpected sub-module ${prefix}${String(k)} in the network pickle`);
  }
  return { sd: out, stubs };
}

const num = (v: unknown, what: string): number => {
  if (typeof v === 'number') return v;
  throw bad(`the network pickle's G_ema lacks ${what}`);
};

function nvidia(obj: PyDict, label: string): GeneratorTensors {
  const G = obj.get('G_ema');
  if (!(G instanceof PersistentStub)) {
    throw bad(`${label} is not a stylegan2-ada-pytorch network pickle (no 'G_ema' network; found ${obj.keys().slice(0, 10).map(String).join(', ')})`);
  }
  const st = G.state;
  if (Number(st.get('c_dim') ?? 0)) throw bad(`${label}: conditional generators are not supported (c_dim=${String(st.get('c_dim'))})`);
  if (Number(st.get('img_channels') ?? 3) !== 3) throw bad(`${label}: only RGB generators are supported (img_channels=${String(st.get('img_channels'))})`);
  const { sd, stubs } = stubStateDict(G);
  const resolution = num(st.get('img_resolution'), 'img_resolution');
  const nMlp = num(stubs.get('mapping')?.state.get('num_layers'), 'mapping.num_layers');
  const lrMlp = Number(stubs.get('mapping.fc0')?.state.get('bias_gain') ?? 0.01);
  for (const [name, s] of stubs) {
    if (/^synthesis\.b\d+$/.test(name) && (s.state.get('architecture') ?? 'skip') !== 'skip') {
      throw bad(`${label}: synthesis architecture '${String(s.state.get('architecture'))}' at ${name} is not supported (only 'skip', the StyleGAN2 config-e/f generator)`);
    }
    if ((s.className === 'SynthesisLayer' || s.className === 'ToRGBLayer') && s.state.get('conv_clamp') != null) {
      throw bad(`${label}: conv_clamp ${String(s.state.get('conv_clamp'))} at ${name} is not supported in the browser; export it with the Python exporter (python3 -m model.export)`);
    }
  }
  const out = new Map<string, SourceTensor>();
  const get = (k: string, shape: number[]) => {
    const t = sd.get(k);
    if (!t) throw bad(`${label}: G_ema lacks ${k}`);
    if (t.numel !== shape.reduce((a, b) => a * b, 1)) throw bad(`${label}: wrong shape for ${k}: [${t.shape.join(', ')}]`);
    return { tensor: t, shape };
  };
  const shapeOf = (k: string) => {
    const t = sd.get(k);
    if (!t) throw bad(`${label}: G_ema lacks ${k}`);
    return t.shape;
  };
  for (let i = 0; i < nMlp; i++) {
    out.set(`style.${i + 1}.weight`, get(`mapping.fc${i}.weight`, shapeOf(`mapping.fc${i}.weight`)));
    out.set(`style.${i + 1}.bias`, get(`mapping.fc${i}.bias`, shapeOf(`mapping.fc${i}.bias`)));
  }
  out.set('input.input', get('synthesis.b4.const', [1, ...shapeOf('synthesis.b4.const')]));
  const layer = (dst: string, src: string, noise: number) => {
    out.set(`${dst}.conv.weight`, get(`${src}.weight`, [1, ...shapeOf(`${src}.weight`)]));
    out.set(`${dst}.conv.modulation.weight`, get(`${src}.affine.weight`, shapeOf(`${src}.affine.weight`)));
    out.set(`${dst}.conv.modulation.bias`, get(`${src}.affine.bias`, shapeOf(`${src}.affine.bias`)));
    out.set(`${dst}.noise.weight`, get(`${src}.noise_strength`, [1]));
    out.set(`${dst}.activate.bias`, get(`${src}.bias`, shapeOf(`${src}.bias`)));
    out.set(`noises.noise_${noise}`, get(`${src}.noise_const`, [1, 1, ...shapeOf(`${src}.noise_const`)]));
  };
  const torgb = (dst: string, src: string) => {
    out.set(`${dst}.conv.weight`, get(`${src}.weight`, [1, ...shapeOf(`${src}.weight`)]));
    out.set(`${dst}.conv.modulation.weight`, get(`${src}.affine.weight`, shapeOf(`${src}.affine.weight`)));
    out.set(`${dst}.conv.modulation.bias`, get(`${src}.affine.bias`, shapeOf(`${src}.affine.bias`)));
    out.set(`${dst}.bias`, get(`${src}.bias`, [1, 3, 1, 1]));
  };
  layer('conv1', 'synthesis.b4.conv1', 0);
  torgb('to_rgb1', 'synthesis.b4.torgb');
  const logSize = Math.log2(resolution);
  if (!Number.isInteger(logSize) || logSize < 3 || logSize > 12) throw bad(`${label}: img_resolution ${resolution} is not a power of two`);
  for (let i = 3, j = 0; i <= logSize; i++, j++) {
    const b = `synthesis.b${2 ** i}`;
    layer(`convs.${2 * j}`, `${b}.conv0`, 2 * j + 1);
    layer(`convs.${2 * j + 1}`, `${b}.conv1`, 2 * j + 2);
    torgb(`to_rgbs.${j}`, `${b}.torgb`);
  }
  const wAvg = sd.get('mapping.w_avg');
  if (!wAvg) throw bad(`${label}: G_ema lacks mapping.w_avg`);
  return { source: 'stylegan2-ada-pytorch', layout: 'NVIDIA G_ema', tensors: out, latentAvg: { tensor: wAvg, shape: [wAvg.numel] }, lrMlp };
}

/** The generator's tensors of a checkpoint object (readCheckpointObject's value). */
export function generatorTensors(kind: CheckpointKind, obj: unknown, label: string): GeneratorTensors {
  if (!(obj instanceof PyDict)) throw bad(`${label} holds a ${Array.isArray(obj) ? 'list' : typeof obj}, not a checkpoint dict`);
  return kind === 'nvidia-pickle' ? nvidia(obj, label) : rosinality(obj, label);
}

const shapeOf = (g: GeneratorTensors, key: string) => {
  const t = g.tensors.get(key);
  if (!t) throw bad(`the generator lacks ${key}`);
  return t.shape;
};

/** size / style_dim / z_dim / n_mlp / channels from the tensors' shapes (model/load/checkpoint.py infer_generator_config). */
export function inferArch(g: GeneratorTensors): Arch {
  const [styleDim, zDim] = shapeOf(g, 'style.1.weight');
  let nMlp = 0;
  while (g.tensors.has(`style.${nMlp + 1}.weight`)) nMlp++;
  let nRgbs = 0;
  while (g.tensors.has(`to_rgbs.${nRgbs}.conv.weight`)) nRgbs++;
  const channels: Record<string, number> = { '4': shapeOf(g, 'input.input')[1] };
  for (let j = 0; j < nRgbs; j++) channels[String(2 ** (j + 3))] = shapeOf(g, `convs.${2 * j}.conv.weight`)[1];
  return { size: 2 ** (nRgbs + 2), styleDim, zDim, nMlp, channels };
}

export const describeArch = (a: Arch) =>
  `${a.size} px, style_dim ${a.styleDim}${a.zDim !== a.styleDim ? `, z_dim ${a.zDim}` : ''}, ${a.nMlp}-layer mapping, channels ${Object.entries(a.channels)
    .sort((x, y) => Number(x[0]) - Number(y[0]))
    .map(([r, c]) => `${r}:${c}`)
    .join(' ')}`;

export function sameArch(a: Arch, b: Arch): boolean {
  const ca = Object.entries(a.channels).sort().join();
  const cb = Object.entries(b.channels).sort().join();
  return a.size === b.size && a.styleDim === b.styleDim && a.zDim === b.zDim && a.nMlp === b.nMlp && ca === cb;
}
