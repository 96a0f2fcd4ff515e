/**
 * In-browser checkpoint conversion against the Python recipe path: the same weights.bin (sha256) for the shared
 * reference as a zip .pt, a legacy .pt, a pSp/e4e file, a synthetic NVIDIA pickle, and random 256, 512 and 1024 px
 * channel-multiplier-2 checkpoints; the mapped w_avg of a train.py file without latent_avg; a template the site
 * lacks; cancel; and bad files, each refused with its own message and nothing left in storage. Fixtures:
 * scripts/make-convert-fixtures.py --random 256 512 1024 (data/convert-fixtures/, run by scripts/test-all.sh; skipped
 * when absent) and the committed templates (public/templates/).
 */
import { existsSync, openAsBlob, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSHA256 } from 'hash-wasm';
import { describe, expect, it } from 'vitest';
import { MemoryPackStorage } from '../pack/store';
import { randn } from '../math/rng';
import { convertCheckpoint, packNameFromFile, TEMPLATES, type ConvertOptions } from './convert';
import { unpickle, bytesSource, UNPICKLE_LIMITS } from './pickle';
import { readCheckpointObject } from './torchfile';
import { applyOp } from './recipe';

const ROOT = join(__dirname, '..', '..', '..');
const FIX = join(ROOT, 'data', 'convert-fixtures');
const TPL = join(ROOT, 'public', 'templates');
const expected = existsSync(join(FIX, 'expected.json')) ? JSON.parse(readFileSync(join(FIX, 'expected.json'), 'utf8')) : null;
const haveRef = !!expected && existsSync(join(TPL, 'ref64', 'recipe.json'));

const fetchTemplate: ConvertOptions['fetchTemplate'] = async (id, file) => {
  const p = join(TPL, id, file);
  if (!existsSync(p)) return new Response('missing', { status: 404 });
  return new Response(readFileSync(p));
};

async function weightsSha(storage: MemoryPackStorage, id: string) {
  const h = await createSHA256();
  h.init();
  h.update(await storage.read(id, 'weights.bin'));
  return h.digest('hex');
}

const file = async (name: string) => new File([await openAsBlob(join(FIX, name))], name);

async function refused(blob: Blob, name: string, pattern: RegExp) {
  const storage = new MemoryPackStorage();
  await storage.write('current', new Map([['manifest.json', new Uint8Array([123, 125])]]));
  await expect(convertCheckpoint(storage, blob, name, { fetchTemplate })).rejects.toThrow(pattern);
  expect(await storage.list()).toEqual(['current']);
  return storage;
}

describe('restricted unpickler', () => {
  // pickle protocol 2 of {'a': [1, 2.5, 'x']}: EMPTY_DICT, BINPUT, SHORT_BINUNICODE 'a', EMPTY_LIST, MARK, ...
  const plain = Uint8Array.from([
    0x80, 2, 0x7d, 0x71, 0, 0x8c, 1, 0x61, 0x5d, 0x28, 0x4b, 1, 0x47, 0x40, 4, 0, 0, 0, 0, 0, 0, 0x8c, 1, 0x78, 0x65, 0x73, 0x2e,
  ]);
  it('reads plain data', async () => {
    const { value } = await unpickle(bytesSource(plain), 0, { allow: {}, label: 'x' });
    expect((value as { get(k: string): unknown }).get('a')).toEqual([1, 2.5, 'x']);
  });
  it('refuses a foreign global by name, before calling anything', async () => {
    // GLOBAL 'os\nsystem\n', SHORT_BINUNICODE 'echo', TUPLE1, REDUCE, STOP
    const enc = new TextEncoder();
    const evil = Uint8Array.from([0x80, 2, 0x63, ...enc.encode('os\nsystem\n'), 0x8c, 4, ...enc.encode('echo'), 0x85, 0x52, 0x2e]);
    await expect(unpickle(bytesSource(evil), 0, { allow: {}, label: 'evil.pt' })).rejects.toThrow(/evil\.pt names os\.system.*refused/);
  });
  it('keeps large bytes payloads in the file', async () => {
    const n = UNPICKLE_LIMITS.inlineBytes + 10;
    const b = new Uint8Array(3 + 8 + n + 1);
    b.set([0x80, 4, 0x8e]);
    new DataView(b.buffer).setBigUint64(3, BigInt(n), true);
    b[b.length - 1] = 0x2e;
    const { value } = await unpickle(bytesSource(b), 0, { allow: {}, label: 'x' });
    expect(value).toMatchObject({ start: 11, length: n });
  });
  it('randn matches the Python recipe path (tests/test_template.py RANDN_6_1)', () => {
    expect(Array.from(randn(6, 1))).toEqual([
      0.9659740328788757, 0.016605805605649948, 1.123104214668274, -0.13435253500938416, -0.04922786355018616, 0.24868126213550568,
    ]);
  });
  it('recipe ops: scale, transpose, flip and slice as model/export/recipe.py op_apply; ΣW² in tap order', async () => {
    const w = Float32Array.from({ length: 2 * 3 * 2 * 2 }, (_, i) => i * 0.37 - 2);
    const src = async () => w;
    const at = (o: number, i: number, a: number, b: number) => w[((o * 3 + i) * 2 + a) * 2 + b];
    const got = await applyOp({ offset: 0, bytes: 32, dtype: 'float32', op: 'scale', src: ['w'], scale: 0.5, view: [2, 3, 2, 2], perm: [1, 0, 2, 3], flip: true, slice: [1, 1, 2], shape: [3, 1, 2, 2] }, src);
    const want: number[] = [];
    for (let i = 0; i < 3; i++) for (let a = 0; a < 2; a++) for (let b = 0; b < 2; b++) want.push(Math.fround(at(1, i, 1 - a, 1 - b) * 0.5));
    expect(Array.from(got)).toEqual(want);
    const sq = await applyOp({ offset: 0, bytes: 24, dtype: 'float32', op: 'sqsum', src: ['w'], scale: 0.5, view: [2, 3, 4], perm: [1, 0], shape: [3, 2] }, src);
    const acc = (o: number, i: number) => [0, 1, 2, 3].reduce((s, t) => Math.fround(s + Math.fround(Math.fround(w[(o * 3 + i) * 4 + t] * 0.5) ** 2)), 0);
    expect(Array.from(sq)).toEqual([acc(0, 0), acc(1, 0), acc(0, 1), acc(1, 1), acc(0, 2), acc(1, 2)]);
  });
  it('names packs after the file', () => {
    expect(packNameFromFile('StyleGAN2 FFHQ config-f.pt')).toBe('stylegan2-ffhq-config-f');
    expect(packNameFromFile('network-snapshot-001200.pkl')).toBe('network-snapshot-001200');
  });
});

describe.skipIf(!haveRef)('checkpoint conversion (64 px reference)', () => {
  it('the template table matches the committed templates', () => {
    for (const t of TEMPLATES) {
      const recipe = JSON.parse(readFileSync(join(TPL, t.id, 'recipe.json'), 'utf8'));
      expect(recipe.template).toBe(t.id);
      expect(t.arch).toEqual(recipe.arch);
    }
  });

  for (const name of ['ref.pt', 'ref-legacy.pt', 'ref-psp.pt', 'ref.pkl']) {
    it(`${name}: weights.bin byte-identical to the Python recipe path`, async () => {
      const storage = new MemoryPackStorage();
      const phases = new Set<string>();
      const t0 = performance.now();
      const out = await convertCheckpoint(storage, await file(name), name, { fetchTemplate, onProgress: (p) => phases.add(p.phase) });
      const ms = performance.now() - t0;
      expect(out.template).toBe('ref64');
      expect(out.manifest.weights!.bytes).toBe(expected.files[name].weightsBytes);
      expect(out.manifest.weights!.sha256).toBe(expected.files[name].weightsSha256);
      expect(await weightsSha(storage, out.id)).toBe(expected.files[name].weightsSha256);
      expect(out.manifest.generator.source).toBe(expected.files[name].source);
      expect(out.manifest.directions).toEqual([]);
      expect([...phases]).toEqual(expect.arrayContaining(['reading', 'template', 'weights', 'storing']));
      console.log(`convert ${name}: ${(ms / 1000).toFixed(1)} s, heap ${(process.memoryUsage().heapUsed / 1e6).toFixed(0)} MB`);
    }, 120_000);
  }

  it('ref-train.pt (no latent_avg): w_avg from 10^4 mapped samples, as the Python path', async () => {
    const storage = new MemoryPackStorage();
    const out = await convertCheckpoint(storage, await file('ref-train.pt'), 'ref-train.pt', { fetchTemplate });
    expect(out.mappedWAvg).toBe(true);
    const want: number[] = expected.files['ref-train.pt'].wAvg;
    const got = out.manifest.truncation.wAvg;
    const err = Math.max(...got.map((v, i) => Math.abs(v - want[i])));
    expect(err).toBeLessThan(1e-6);
  }, 120_000);

  it('two conversions get two ids; the second does not replace the first', async () => {
    const storage = new MemoryPackStorage();
    const a = await convertCheckpoint(storage, await file('ref.pt'), 'ref.pt', { fetchTemplate });
    const b = await convertCheckpoint(storage, await file('ref.pkl'), 'ref.pt', { fetchTemplate });
    expect([a.id, b.id]).toEqual(['ref', 'ref-2']);
  }, 120_000);

  it('cancel leaves nothing', async () => {
    const storage = new MemoryPackStorage();
    const ctl = new AbortController();
    const p = convertCheckpoint(storage, await file('ref.pt'), 'ref.pt', {
      fetchTemplate,
      signal: ctl.signal,
      onProgress: (x) => x.phase === 'weights' && ctl.abort(),
    });
    await expect(p).rejects.toThrow(/cancelled/);
    expect(await storage.list()).toEqual([]);
  }, 120_000);

  it('cancel while the checkpoint is read: nothing fetched, nothing kept', async () => {
    const storage = new MemoryPackStorage();
    const ctl = new AbortController();
    let fetched = 0;
    const phases: string[] = [];
    const p = convertCheckpoint(storage, await file('ref.pt'), 'ref.pt', {
      fetchTemplate: (id, f) => (fetched++, fetchTemplate(id, f)),
      signal: ctl.signal,
      onProgress: (x) => (phases.push(x.phase), x.phase === 'reading' && ctl.abort()),
    });
    await expect(p).rejects.toThrow(/cancelled/);
    expect(phases).toEqual(['reading']);
    expect(fetched).toBe(0);
    expect(await storage.list()).toEqual([]);
  }, 120_000);

  // a host without the template: 404, or (vite preview, static hosts with a single-page fallback) index.html with 200
  const INDEX = '<!doctype html><html><head><title>F/Z+ Studio</title></head><body><div id="root"></div></body></html>';
  const notOnSite = /template ref64 \(rosinality 64 px.*\) is not on this site \(recipe\.json: (HTTP 404|the site answered with an HTML page|not JSON: "<!doctype html>.*)\).*ref64, r256-cm2, r512-cm2, ffhq1024-f.*python3 -m model\.export/;
  const hosts: [string, ConvertOptions['fetchTemplate']][] = [
    ['404', async () => new Response('Not Found', { status: 404, headers: { 'content-type': 'text/plain' } })],
    ['index.html with 200', async () => new Response(INDEX, { status: 200, headers: { 'content-type': 'text/html; charset=utf-8' } })],
    ['index.html with 200, no content type', async () => new Response(new TextEncoder().encode(INDEX), { status: 200 })],
  ];
  for (const [what, host] of hosts) {
    it(`a missing template (${what}) is "not on this site", with the list and the Python exporter; nothing kept`, async () => {
      const storage = new MemoryPackStorage();
      await storage.write('current', new Map([['manifest.json', new Uint8Array([123, 125])]]));
      const err = await convertCheckpoint(storage, await file('ref.pt'), 'ref.pt', { fetchTemplate: host }).catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).name).toBe('PackFetchError');
      expect((err as Error).message).toMatch(notOnSite);
      expect((err as Error).message).not.toMatch(/Unexpected token/);
      expect(await storage.list()).toEqual(['current']);
    }, 120_000);
  }

  it('an HTML page in place of a graph file is "not on this site" too (not a sha256 mismatch)', async () => {
    const storage = new MemoryPackStorage();
    const host: ConvertOptions['fetchTemplate'] = async (id, f) =>
      f.endsWith('.onnx') ? new Response(INDEX, { status: 200, headers: { 'content-type': 'text/html' } }) : fetchTemplate(id, f);
    await expect(convertCheckpoint(storage, await file('ref.pt'), 'ref.pt', { fetchTemplate: host })).rejects.toThrow(
      /template ref64 .* is not on this site \(\w+\.onnx: the site answered with an HTML page\)/,
    );
    expect(await storage.list()).toEqual([]);
  }, 120_000);

  it('refuses a truncated zip', async () => {
    const b = await openAsBlob(join(FIX, 'ref.pt'));
    await refused(b.slice(0, 40_000_000), 'cut.pt', /cut\.pt.*(central directory|cut off)/);
  });

  it('refuses an unsupported architecture, listing the supported ones and pointing to the Python exporter', async () => {
    await refused(await file('tiny.pt'), 'tiny.pt', /unsupported architecture: 32 px, style_dim 64.*1024 px FFHQ config-f.*python3 -m model\.export/);
  });

  it('refuses a tensor of the wrong shape, naming it', async () => {
    await refused(await file('ref-wrongshape.pt'), 'ref-wrongshape.pt', /wrong shape for convs\.3\.conv\.modulation\.weight: \[7, 128\] in the checkpoint, \[512, 128\] expected/);
  });

  it('refuses NaN weights and a foreign class in a real checkpoint', async () => {
    const raw = new Uint8Array(readFileSync(join(FIX, 'ref.pt')));
    const text = new TextDecoder('latin1').decode(raw.subarray(0, 200_000));
    // NaN: the first float32 values of a conv weight's storage, found through the checkpoint's own index
    const { value } = await readCheckpointObject(new Blob([raw]), 'ref.pt');
    const g = (value as { get(k: string): { get(k: string): { storage: { start: number } } } }).get('g_ema');
    const nan = raw.slice();
    new DataView(nan.buffer).setFloat32(g.get('convs.4.conv.weight').storage.start, NaN, true);
    await refused(new Blob([nan]), 'nan.pt', /convs\.4\.conv\.weight holds NaN/);
    // a foreign class: 'collections\nOrderedDict' renamed in data.pkl (same length, so the zip stays readable)
    const at = text.indexOf('collections\nOrderedDict');
    expect(at).toBeGreaterThan(0);
    const evil = raw.slice();
    evil.set(new TextEncoder().encode('subprocess\nPopenxxxxxxx'), at);
    await refused(new Blob([evil]), 'evil.pt', /names subprocess\.Popenxxxxxxx.*refused/);
  }, 120_000);

  it('refuses a 2 GB file that is not a checkpoint after its first bytes', async () => {
    const head = new Blob([new TextEncoder().encode('GIF89a')]);
    let read = 0;
    const big = {
      size: 2 ** 31,
      slice(a?: number, b?: number) {
        read += (b ?? 2 ** 31) - (a ?? 0);
        return head.slice(a, b);
      },
    } as unknown as Blob;
    await refused(big, 'movie.mp4', /movie\.mp4 is not a PyTorch checkpoint/);
    expect(read).toBeLessThan(1024);
  });
});

const RANDOM = Object.entries((expected?.files ?? {}) as Record<string, { template?: string; weightsSha256: string }>).filter(([, f]) => f.template);

describe.skipIf(!RANDOM.length)('checkpoint conversion (random channel-multiplier-2 checkpoints)', () => {
  for (const [name, f] of RANDOM) {
    it.skipIf(!existsSync(join(TPL, f.template!, 'recipe.json')))(`${name} (${f.template}): weights.bin byte-identical to the Python recipe path`, async () => {
      const storage = new MemoryPackStorage();
      const t0 = performance.now();
      const out = await convertCheckpoint(storage, await file(name), name, { fetchTemplate });
      console.log(`convert ${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s, rss ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB (the in-memory store holds the pack)`);
      expect(out.template).toBe(f.template);
      expect(out.manifest.weights!.sha256).toBe(f.weightsSha256);
    }, 900_000);
  }
});
