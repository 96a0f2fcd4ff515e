import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { zipSync } from 'fflate';
import { importPackStream, type ImportProgress } from './import';
import { makePackFetch, MemoryPackStorage, packIdFromName, storedPackId, storedPackUrl, type PackFiles } from './store';
import { loadModelPack } from './load';

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
});
