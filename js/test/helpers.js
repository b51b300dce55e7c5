// Test doubles for the heatmap view: an anywidget-like model, a fake 2D canvas
// context and a fake createImageBitmap. DOM emulators have no 2D canvas, so
// real pixels are left to the browser tests; here we record what is drawn.
import { vi } from "vitest";

/**
 * Mock of the anywidget model (`get/set/on/off/save_changes/send`).
 * `set` fires `change:<name>` synchronously, like Backbone. `pySet` simulates
 * a change coming from the kernel (not recorded as a front-end `set`).
 */
export function createMockModel(initial) {
  const state = { ...initial };
  /** @type {Map<string, Set<Function>>} */
  const listeners = new Map();
  const calls = { on: [], off: [], set: [], save_changes: 0, send: [] };
  const emit = (event, ...args) => {
    for (const fn of [...(listeners.get(event) ?? [])]) fn(...args);
  };
  const change = (key, value) => {
    const old = state[key];
    state[key] = value;
    if (old !== value) emit(`change:${key}`);
  };
  return {
    state,
    calls,
    listeners,
    emit,
    get: (key) => state[key],
    set(key, value) {
      calls.set.push([key, value]);
      change(key, value);
    },
    pySet(key, value) {
      change(key, value);
    },
    on(event, fn) {
      calls.on.push([event, fn]);
      if (!listeners.has(event)) listeners.set(event, new Set());
      listeners.get(event).add(fn);
    },
    off(event, fn) {
      calls.off.push([event, fn]);
      listeners.get(event)?.delete(fn);
    },
    save_changes() {
      calls.save_changes += 1;
    },
    send(content) {
      calls.send.push(content);
    },
    listenerCount() {
      let n = 0;
      for (const set of listeners.values()) n += set.size;
      return n;
    },
  };
}

/**
 * Fake "PNG" bytes for the fake decoder: [width, height, r, g, b].
 * The decoded image is width x height pixels of colour (r, g, b).
 */
export function fakePng(width, height, rgb) {
  return new DataView(new Uint8Array([width, height, ...rgb]).buffer);
}

/** Little-endian float32 DataView at an unaligned offset (like real buffers may be). */
export function floatView(values) {
  const buf = new ArrayBuffer(values.length * 4 + 1);
  const dv = new DataView(buf, 1, values.length * 4);
  values.forEach((v, i) => dv.setFloat32(i * 4, v, true));
  return dv;
}

class FakeContext2D {
  constructor(canvas) {
    this.canvas = canvas;
    this.source = null;
    this.puts = [];
    this.clears = 0;
  }
  drawImage(source) {
    this.source = source;
  }
  getImageData(x, y, w, h) {
    const data = new Uint8ClampedArray(w * h * 4);
    const rgb = this.source?.rgb ?? [0, 0, 0];
    for (let i = 0; i < w * h; i++) data.set([...rgb, 255], i * 4);
    return { data, width: w, height: h };
  }
  createImageData(w, h) {
    return { data: new Uint8ClampedArray(w * h * 4), width: w, height: h };
  }
  putImageData(img, x, y) {
    this.puts.push({ data: img.data.slice(), width: img.width, height: img.height, x, y });
  }
  clearRect() {
    this.clears += 1;
  }
  get lastPut() {
    return this.puts[this.puts.length - 1];
  }
}

/**
 * Install the canvas / createImageBitmap stubs. `decodeGate`, when set, is awaited
 * by the fake decoder with the decoded bitmap, so tests can control decode order.
 */
export function installCanvasStubs() {
  /** @type {WeakMap<object, FakeContext2D>} */
  const contexts = new WeakMap();
  const stubs = {
    decodeGate: null,
    contextOf(canvas) {
      return contexts.get(canvas);
    },
  };
  vi.spyOn(HTMLCanvasElement.prototype, "getContext").mockImplementation(function (type) {
    if (type !== "2d") return null;
    if (!contexts.has(this)) contexts.set(this, new FakeContext2D(this));
    return contexts.get(this);
  });
  stubs.createImageBitmap = vi.fn(async (blob) => {
    const bytes = new Uint8Array(await blob.arrayBuffer());
    if (bytes.length < 5) throw new Error("not a fake png");
    const bitmap = {
      width: bytes[0],
      height: bytes[1],
      rgb: Array.from(bytes.slice(2, 5)),
      type: blob.type,
      close: vi.fn(),
    };
    if (stubs.decodeGate) await stubs.decodeGate(bitmap);
    return bitmap;
  });
  vi.stubGlobal("createImageBitmap", stubs.createImageBitmap);
  return stubs;
}

/** Wait until the view reports a finished draw. */
export async function ready(el) {
  await vi.waitFor(() => {
    if (el.dataset.ready !== "true") throw new Error(`data-ready=${el.dataset.ready}`);
  }, { interval: 2, timeout: 2000 });
}

/** Pixel i of an RGBA array as [r, g, b, a]. */
export const px = (rgba, i) => Array.from(rgba.slice(i * 4, i * 4 + 4));
