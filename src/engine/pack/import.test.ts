import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { zipSync } from 'fflate';
import { importPackStream, type ImportProgress } from './import';
import { makePackFetch, MemoryPackStorage, packIdFromName, type PackFiles } from './store';
import { storedPackId, storedPackUrl } from '../../worker/storedPacksProtocol';
import { loadModelPack } from './load';
import { INFLATE_SLICE, MAX_SLICE_OUTPUT } from './zip';
// @ts-expect-error plain JS module without types
import { bombZip, duplicateZip, goodZip, hugeDirectionZip, infiniteDirectionZip, rawZip, traversalZip } from '../../../e2e/fixtures/make-hostile-packs.mjs';

const DIR = 'public/models/tiny-test';

function readTree(dir: string, prefix = ''): [string, Uint8Array][] {
  const out: [string, Uint8Array][] = [];
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) out.push(...readTree(p, `${prefix}${n}/`));
    else out.push([`${prefix}${n}`, new Uint8Array(readFileSync(p))]);
  }
  return out;
}

const tiny = () => new Map(readTree(DIR));

/** A fetch over in-memory files (404 for anything else): the URL-import tests' server. */
function memoryFetch(files: PackFiles, base = 'mem:/'): typeof fetch {
  return (async (input: RequestInfo | URL) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const d = url.startsWith(base) ? files.get(decodeURIComponent(url.slice(base.length))) : undefined;
    if (!d) return new Response(null, { status: 404 });
    return new Response(d as Uint8Array<ArrayBuffer>, { status: 200, headers: { 'content-length': String(d.length) } });
  }) as typeof fetch;
}
const zipOf = (files: Map<string, Uint8Array>, top = 'tiny-test/', level = 6) =>
  zipSync(Object.fromEntries([...files].map(([p, d]) => [top + p, [d, { level }]])) as never);
const blob = (d: Uint8Array) => new Blob([d as Uint8Array<ArrayBuffer>]);
const asFiles = (files: Map<string, Uint8Array>, top = 'tiny-test/') => [...files].map(([p, d]) => ({ path: top + p, blob: blob(d) }));
const manifestOf = (files: Map<string, Uint8Array>) => JSON.parse(new TextDecoder().decode(files.get('manifest.json')!));
const withManifest = (files: Map<string, Uint8Array>, m: unknown) => new Map(files).set('manifest.json', new TextEncoder().encode(JSON.stringify(m)));

describe('streamed pack import', () => {
  it('streams a zip (deflated and stored) into storage; hashes match; the engine loads it back', async () => {
    for (const level of [6, 0]) {
      const store = new MemoryPackStorage();
      const seen: ImportProgress[] = [];
      const res = await importPackStream(store, { kind: 'zip', name: 'tiny.zip', blob: blob(zipOf(tiny(), 'tiny-test/', level)) }, (p) => seen.push(p));
      expect(res.id).toBe('tiny-test');
      expect(await store.list()).toEqual(['tiny-test']);
      for (const [p, d] of tiny()) {
        const got = await store.read('tiny-test', p);
        expect(createHash('sha256').update(got).digest('hex')).toBe(createHash('sha256').update(d).digest('hex'));
      }
      expect(res.bytes).toBe(await store.size('tiny-test'));
      expect(seen.some((p) => p.file.endsWith('weights.bin') && p.loaded === p.total)).toBe(true);
      expect(seen.map((p) => p.phase)).toContain('checking');
      const pack = await loadModelPack(storedPackUrl('tiny-test'), { fetch: makePackFetch(() => store) });
      expect(pack.weights?.data.length).toBe(manifestOf(tiny()).weights.bytes);
      // never overwrites
      expect((await importPackStream(store, { kind: 'zip', name: 't.zip', blob: blob(zipOf(tiny())) })).id).toBe('tiny-test-2');
    }
  });

  it('streams a picked folder (manifest first) and a URL folder or zip', async () => {
    const store = new MemoryPackStorage();
    const fromDir = await importPackStream(store, { kind: 'files', files: [...asFiles(tiny()), { path: 'tiny-test/__MACOSX/x', blob: blob(new Uint8Array(3)) }] });
    expect(fromDir.id).toBe('tiny-test');
    expect(Object.keys(fromDir.files)).not.toContain('__MACOSX/x');
    const served = new Map<string, Uint8Array>([...tiny()].map(([p, d]) => [`tiny-test/${p}`, d]));
    served.set('tiny.zip', zipOf(tiny()));
    const f = memoryFetch(served, 'http://x/');
    const files: string[] = [];
    expect((await importPackStream(store, { kind: 'url', url: 'http://x/tiny-test/' }, (p) => files.push(p.file), f)).id).toBe('tiny-test-2');
    expect(files).toContain('mapping.onnx');
    expect((await importPackStream(store, { kind: 'url', url: 'http://x/tiny.zip' }, undefined, f)).id).toBe('tiny-test-3');
    await expect(importPackStream(store, { kind: 'url', url: 'http://x/nothing/' }, undefined, f)).rejects.toThrow(/HTTP 404/);
  });

  it('pack ids and stored URLs', () => {
    expect(packIdFromName('My pack/../x')).toBe('My-pack-..-x');
    expect(packIdFromName('...')).toBe('pack');
    expect(storedPackId(storedPackUrl('abc'))).toBe('abc');
    expect(storedPackId('http://x/models/abc/')).toBeNull();
  });
  it('refuses malformed packs with a message naming the problem; nothing is stored', async () => {
    const store = new MemoryPackStorage();
    const zip = (files: Map<string, Uint8Array>) => importPackStream(store, { kind: 'zip', name: 'x.zip', blob: blob(zipOf(files)) });
    const bad = tiny();
    const g = bad.get('mapping.onnx')!.slice();
    g[g.length >> 1] ^= 0xff;
    bad.set('mapping.onnx', g);
    await expect(zip(bad)).rejects.toThrow(/mapping\.onnx.*sha256/);
    const short = tiny();
    short.set('weights.bin', short.get('weights.bin')!.slice(0, 100));
    await expect(zip(short)).rejects.toThrow(/weights\.bin: 100 bytes/);
    await expect(zip(new Map(tiny()).set('manifest.json', new TextEncoder().encode('{"name": ')))).rejects.toThrow(/not valid JSON/);
    const noGraph = tiny();
    noGraph.delete('synthesis.onnx');
    await expect(zip(noGraph)).rejects.toThrow(/lacks graph 'synthesis' \(synthesis\.onnx\)/);
    const m = manifestOf(tiny());
    m.graphs.mapping.inputs[0].shape = [1, 99];
    await expect(zip(withManifest(tiny(), m))).rejects.toThrow(/graph 'mapping' z has shape \[1,99\]/);
    const noManifest = tiny();
    noManifest.delete('manifest.json');
    await expect(zip(noManifest)).rejects.toThrow(/no manifest\.json/);
    await expect(importPackStream(store, { kind: 'zip', name: 'junk.zip', blob: blob(new Uint8Array([1, 2, 3, 4])) })).rejects.toThrow(/not a readable zip/);
    const z = zipOf(tiny());
    await expect(importPackStream(store, { kind: 'zip', name: 'cut.zip', blob: blob(z.slice(0, z.length >> 1)) })).rejects.toThrow(/zip|lacks|manifest/);
    // bad JSON in a folder is reported before the other files are read
    const order: string[] = [];
    await expect(
      importPackStream(store, { kind: 'files', files: asFiles(new Map(tiny()).set('manifest.json', new TextEncoder().encode('nope'))) }, (p) => order.push(p.file)),
    ).rejects.toThrow(/not valid JSON/);
    expect(order.every((f) => f.endsWith('manifest.json'))).toBe(true);
    expect(await store.list()).toEqual([]);
  });

  describe('hostile zips', () => {
    const zipImport = (store: MemoryPackStorage, z: Uint8Array, onProgress?: (p: ImportProgress) => void) =>
      importPackStream(store, { kind: 'zip', name: 'x.zip', blob: blob(z) }, onProgress);
    /** Resident memory the test process grew by while `fn` ran (sampled every 5 ms), and its time. */
    async function measured<T>(fn: () => Promise<T>): Promise<{ result: T | Error; growthMB: number; ms: number }> {
      global.gc?.();
      const base = process.memoryUsage().rss;
      let peak = base;
      const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
      const t0 = performance.now();
      let result: T | Error;
      try {
        result = await fn();
      } catch (e) {
        result = e as Error;
      }
      clearInterval(timer);
      peak = Math.max(peak, process.memoryUsage().rss);
      return { result, growthMB: (peak - base) / 2 ** 20, ms: performance.now() - t0 };
    }

    it('a zip bomb whose directory states its size is refused before any inflating', async () => {
      const store = new MemoryPackStorage();
      const z = bombZip(2 ** 31, false);
      const seen: ImportProgress[] = [];
      const r = await measured(() => zipImport(store, z, (p) => seen.push(p)));
      console.log(`honest 2 GiB bomb (${(z.length / 2 ** 20).toFixed(1)} MB zip): refused in ${r.ms.toFixed(0)} ms, +${r.growthMB.toFixed(0)} MB rss`);
      expect(String(r.result)).toMatch(/weights\.bin: 2147483648 bytes in the zip, the manifest says 22272/);
      expect(seen.filter((p) => p.file === 'weights.bin')).toEqual([]);
      expect(await store.list()).toEqual([]);
    });

    it('a zip bomb that lies about its size stops at the declared size; memory stays bounded', async () => {
      const store = new MemoryPackStorage();
      const z = bombZip(2 ** 30, true);
      const seen: ImportProgress[] = [];
      const r = await measured(() => zipImport(store, z, (p) => seen.push(p)));
      console.log(`lying 1 GiB bomb (${(z.length / 2 ** 20).toFixed(1)} MB zip): refused in ${r.ms.toFixed(0)} ms, +${r.growthMB.toFixed(0)} MB rss`);
      expect(String(r.result)).toMatch(/weights\.bin inflates to more than the 22272 bytes the manifest gives/);
      expect(r.ms).toBeLessThan(5000);
      expect(r.growthMB).toBeLessThan(256);
      // progress counts uncompressed bytes against the declared total, and never runs past it
      for (const p of seen) expect(p.doneBytes).toBeLessThanOrEqual(p.allBytes);
      expect(Math.max(...seen.map((p) => p.allBytes))).toBeLessThan(300_000);
      expect(await store.list()).toEqual([]);
      expect(MAX_SLICE_OUTPUT).toBe(INFLATE_SLICE * 1032);
    });

    it('an infinite or huge direction value is refused at import, naming where', async () => {
      const store = new MemoryPackStorage();
      await expect(zipImport(store, infiniteDirectionZip())).rejects.toThrow(/not finite at \/directions\/0\/vector\/0/);
      await expect(zipImport(store, hugeDirectionZip())).rejects.toThrow(/directions\/0\/vector\/0 must be <= 1000/);
      expect(await store.list()).toEqual([]);
    });

    it('a path leaving the pack, or a file twice, is refused by name before anything is written', async () => {
      const store = new MemoryPackStorage();
      const opened: string[] = [];
      const stage = store.stage.bind(store);
      store.stage = async () => {
        const s = await stage();
        return { ...s, open: (p: string) => (opened.push(p), s.open(p)) };
      };
      await expect(zipImport(store, traversalZip())).rejects.toThrow(/bad file path in x\.zip: 'tiny-escape\/\.\.\/\.\.\/x'/);
      await expect(zipImport(store, duplicateZip())).rejects.toThrow(/the zip x\.zip holds weights\.bin twice/);
      expect(opened).toEqual([]);
      expect(await store.list()).toEqual([]);
      // folders too
      const files = [...asFiles(tiny()), { path: 'tiny-test/weights.bin', blob: blob(new Uint8Array(4)) }];
      await expect(importPackStream(store, { kind: 'files', files })).rejects.toThrow(/holds weights\.bin twice/);
      expect(opened).toEqual([]);
    });

    it('only the manifest and the files it lists are kept; the honest control imports', async () => {
      const store = new MemoryPackStorage();
      const withExtra = rawZip([
        ...[...tiny()].map(([p, d]) => ({ name: `t/${p}`, data: d })),
        { name: 't/notes.txt', data: new TextEncoder().encode('not part of the pack') },
      ]);
      const res = await zipImport(store, withExtra);
      expect(Object.keys(res.files).sort()).toEqual([...tiny().keys()].sort());
      expect((await zipImport(store, goodZip())).id).toBe('tiny-good');
    });
  });
});
