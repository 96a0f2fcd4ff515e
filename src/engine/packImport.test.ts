import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { checkPackFiles, filesFromUrl, filesFromZip, importPackFiles, memoryFetch, normalizeFiles } from './packImport';
import { makePackFetch, MemoryPackStorage, packIdFromName, storedPackId, storedPackUrl } from './packStore';
import { loadModelPack } from './pack';

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
const zipOf = (files: Map<string, Uint8Array>, top = 'tiny-test/') => zipSync(Object.fromEntries([...files].map(([p, d]) => [top + p, d])));
const manifestOf = (files: Map<string, Uint8Array>) => JSON.parse(new TextDecoder().decode(files.get('manifest.json')!));
const withManifest = (files: Map<string, Uint8Array>, m: unknown) => new Map(files).set('manifest.json', new TextEncoder().encode(JSON.stringify(m)));

describe('pack import', () => {
  it('reads a zip with a top folder, checks every hash and stores it', async () => {
    const files = filesFromZip(zipOf(tiny()));
    expect(files.has('manifest.json')).toBe(true);
    expect(files.has('samples/sample0.png')).toBe(true);
    const store = new MemoryPackStorage();
    const res = await importPackFiles(store, files);
    expect(res.id).toBe('tiny-test');
    expect(await store.list()).toEqual(['tiny-test']);
    expect(await store.size('tiny-test')).toBe(res.bytes);
    // the engine's loader reads it back through the fetch hook
    const f = makePackFetch(() => store);
    const pack = await loadModelPack(storedPackUrl('tiny-test'), { fetch: f });
    expect(pack.manifest.name).toBe('tiny-test');
    expect(pack.graphs.mapping?.length).toBeGreaterThan(0);
    // a second import never overwrites the first
    expect((await importPackFiles(store, files)).id).toBe('tiny-test-2');
    expect(await store.list()).toEqual(['tiny-test', 'tiny-test-2']);
    await store.remove('tiny-test');
    await store.remove('tiny-test-2');
    expect(await store.list()).toEqual([]);
  });

  it('refuses a corrupted graph, naming the file', async () => {
    const files = tiny();
    const g = files.get('mapping.onnx')!.slice();
    g[g.length >> 1] ^= 0xff;
    files.set('mapping.onnx', g);
    const store = new MemoryPackStorage();
    await expect(importPackFiles(store, filesFromZip(zipOf(files)))).rejects.toThrow(/mapping\.onnx.*sha256/);
    expect(await store.list()).toEqual([]);
  });

  it('refuses a truncated weights file', async () => {
    const files = tiny();
    files.set('weights.bin', files.get('weights.bin')!.slice(0, 100));
    await expect(checkPackFiles(files)).rejects.toThrow(/weights\.bin: 100 bytes/);
  });

  it('refuses bad JSON, a missing graph, wrong shapes, no manifest, not a zip', async () => {
    const files = tiny();
    await expect(checkPackFiles(new Map(files).set('manifest.json', new TextEncoder().encode('{"name": ')))).rejects.toThrow(/not valid JSON/);
    const noGraph = new Map(files);
    noGraph.delete('synthesis.onnx');
    await expect(checkPackFiles(noGraph)).rejects.toThrow(/lacks graph 'synthesis' \(synthesis\.onnx\)/);
    const m = manifestOf(files);
    m.graphs.mapping.inputs[0].shape = [1, 99];
    await expect(checkPackFiles(withManifest(files, m))).rejects.toThrow(/graph 'mapping' z has shape \[1,99\]/);
    const m2 = manifestOf(files);
    delete m2.graphs.features;
    await expect(checkPackFiles(withManifest(files, m2))).rejects.toThrow(/features/);
    const noManifest = new Map(files);
    noManifest.delete('manifest.json');
    expect(() => normalizeFiles(noManifest)).toThrow(/no manifest\.json/);
    expect(() => filesFromZip(new Uint8Array([1, 2, 3, 4]))).toThrow(/zip/);
  });

  it('downloads a pack folder or a zip from a URL with progress', async () => {
    const files = tiny();
    const served = new Map<string, Uint8Array>([...files].map(([p, d]) => [`tiny-test/${p}`, d]));
    served.set('tiny.zip', zipOf(files));
    const f = memoryFetch(served, 'http://x/');
    const seen: string[] = [];
    const fromFolder = await filesFromUrl('http://x/tiny-test/', (p) => seen.push(p.file), f);
    expect(seen).toContain('mapping.onnx');
    expect((await checkPackFiles(fromFolder)).id).toBe('tiny-test');
    const fromZip = await filesFromUrl('http://x/tiny.zip', undefined, f);
    expect((await checkPackFiles(fromZip)).manifest.name).toBe('tiny-test');
    await expect(filesFromUrl('http://x/nothing/', undefined, f)).rejects.toThrow(/HTTP 404/);
  });

  it('pack ids and stored URLs', () => {
    expect(packIdFromName('My pack/../x')).toBe('My-pack-..-x');
    expect(packIdFromName('...')).toBe('pack');
    expect(storedPackId(storedPackUrl('abc'))).toBe('abc');
    expect(storedPackId('http://x/models/abc/')).toBeNull();
  });
});
