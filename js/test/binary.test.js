import { describe, expect, it } from "vitest";
import {
  asDataView,
  bytesFromDataView,
  float32FromDataView,
} from "../src/lib/binary.js";

/** Little-endian float32 bytes of `values`, placed at byte `offset` of a larger buffer. */
function dataViewAt(values, offset) {
  const buf = new ArrayBuffer(offset + values.length * 4 + 3);
  const dv = new DataView(buf, offset, values.length * 4);
  values.forEach((v, i) => dv.setFloat32(i * 4, v, true));
  return dv;
}

describe("float32FromDataView", () => {
  it("copies float32 values from an unaligned byteOffset", () => {
    const values = [0, 0.25, 0.5, 1, -2.5, 123.125];
    const dv = dataViewAt(values, 3);
    expect(dv.byteOffset % 4).toBe(3);
    const out = float32FromDataView(dv);
    expect(out).toBeInstanceOf(Float32Array);
    expect(Array.from(out)).toEqual(values);
  });

  it("works for aligned views and returns an independent copy", () => {
    const dv = dataViewAt([1.5, 2.5], 4);
    const out = float32FromDataView(dv);
    expect(Array.from(out)).toEqual([1.5, 2.5]);
    dv.setFloat32(0, 9, true);
    expect(out[0]).toBe(1.5);
    expect(out.buffer).not.toBe(dv.buffer);
  });

  it("reads little-endian, not host order by accident", () => {
    const dv = new DataView(new ArrayBuffer(5), 1, 4);
    dv.setUint8(0, 0x00);
    dv.setUint8(1, 0x00);
    dv.setUint8(2, 0x80);
    dv.setUint8(3, 0x3f); // 1.0 as float32 LE
    expect(Array.from(float32FromDataView(dv))).toEqual([1]);
  });

  it("keeps NaN and handles empty input", () => {
    expect(Number.isNaN(float32FromDataView(dataViewAt([NaN], 1))[0])).toBe(true);
    expect(float32FromDataView(new DataView(new ArrayBuffer(0))).length).toBe(0);
  });

  it("rejects a byteLength that is not a multiple of 4", () => {
    expect(() => float32FromDataView(new DataView(new ArrayBuffer(6)))).toThrow(RangeError);
  });
});

describe("asDataView / bytesFromDataView", () => {
  it("normalises binary values", () => {
    const u8 = new Uint8Array([1, 2, 3, 4, 5]).subarray(1, 4);
    const dv = asDataView(u8);
    expect(dv.byteOffset).toBe(1);
    expect(Array.from(bytesFromDataView(dv))).toEqual([2, 3, 4]);
    expect(asDataView(new ArrayBuffer(2)).byteLength).toBe(2);
    expect(asDataView(null).byteLength).toBe(0);
    expect(asDataView(undefined).byteLength).toBe(0);
    const same = new DataView(new ArrayBuffer(1));
    expect(asDataView(same)).toBe(same);
  });
});
