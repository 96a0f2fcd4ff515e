// The image worker's client when the worker dies: calls in flight reject with a message that says so, and the next
// call starts a fresh worker. The worker is a stand-in (comlink over a MessageChannel) so the test runs in node.
import * as Comlink from 'comlink';
import { afterEach, describe, expect, it, vi } from 'vitest';

class FakeWorker extends EventTarget {
  static made: FakeWorker[] = [];
  terminated = false;
  private readonly port: MessagePort;
  constructor() {
    super();
    const ch = new MessageChannel();
    this.port = ch.port1;
    this.port.start();
    const n = FakeWorker.made.push(this);
    Comlink.expose(
      {
        open: () => new Promise(() => undefined), // a decode that never ends (the worker dies during it)
        release: async (id: number) => void id,
        pixels: async (id: number) => ({ width: 1, height: 1, data: new Uint8ClampedArray([n, id, 0, 255]) }),
      },
      ch.port2,
    );
  }
  postMessage(m: unknown, t?: Transferable[]) {
    this.port.postMessage(m, t ?? []);
  }
  override addEventListener(type: string, l: EventListenerOrEventListenerObject | null) {
    if (type === 'message') this.port.addEventListener(type, l as EventListener);
    else super.addEventListener(type, l);
  }
  override removeEventListener(type: string, l: EventListenerOrEventListenerObject | null) {
    if (type === 'message') this.port.removeEventListener(type, l as EventListener);
    else super.removeEventListener(type, l);
  }
  terminate() {
    this.terminated = true;
    this.port.close();
  }
}

afterEach(() => {
  for (const w of FakeWorker.made) w.terminate();
  FakeWorker.made = [];
  vi.unstubAllGlobals();
  vi.resetModules();
});

describe('image worker client', () => {
  it('a worker that dies rejects the calls in flight with a message, and the next call starts a fresh worker', async () => {
    vi.stubGlobal('Worker', FakeWorker);
    const { getImageWorker } = await import('./imageClient');
    const images = getImageWorker();
    expect((await images.pixels(7)).data[0]).toBe(1);
    const pending = images.open(new Blob([]), 'big.jpg');
    await new Promise((r) => setTimeout(r, 10));
    FakeWorker.made[0].dispatchEvent(Object.assign(new Event('error', { cancelable: true }), { message: 'out of memory' }));
    await expect(pending).rejects.toMatchObject({ name: 'ImageWorkerError', message: 'the image worker stopped (out of memory); try again' });
    expect(FakeWorker.made[0].terminated).toBe(true);
    const next = await images.pixels(8);
    expect(FakeWorker.made).toHaveLength(2);
    expect(Array.from(next.data.slice(0, 2))).toEqual([2, 8]);
  });

  it('is not a thenable (awaiting the client does not call the worker)', async () => {
    vi.stubGlobal('Worker', FakeWorker);
    const { getImageWorker } = await import('./imageClient');
    expect(await Promise.resolve(getImageWorker())).toBe(getImageWorker());
    expect(FakeWorker.made).toHaveLength(0);
  });
});
