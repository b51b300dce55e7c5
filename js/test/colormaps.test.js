import { describe, expect, it } from "vitest";
import { COLORMAP_NAMES, colormapLUT } from "../src/lib/colormaps.js";

describe("colormaps", () => {
  it("has the five maps in order", () => {
    expect(COLORMAP_NAMES).toEqual(["viridis", "cividis", "magma", "inferno", "gray"]);
  });

  it("decodes each map to 256 RGB entries", () => {
    for (const name of COLORMAP_NAMES) {
      const lut = colormapLUT(name);
      expect(lut).toBeInstanceOf(Uint8Array);
      expect(lut.length).toBe(256 * 3);
    }
  });

  it("matches matplotlib at known points", () => {
    const near = (actual, expected) =>
      actual.forEach((v, i) => expect(Math.abs(v - expected[i])).toBeLessThanOrEqual(1));
    const v = colormapLUT("viridis");
    near(Array.from(v.slice(0, 3)), [68, 1, 84]);
    near(Array.from(v.slice(765, 768)), [253, 231, 37]);
    const g = colormapLUT("gray");
    expect(Array.from(g.slice(0, 3))).toEqual([0, 0, 0]);
    expect(Array.from(g.slice(128 * 3, 129 * 3))).toEqual([128, 128, 128]);
    expect(Array.from(g.slice(765))).toEqual([255, 255, 255]);
    near(Array.from(colormapLUT("magma").slice(0, 3)), [0, 0, 4]);
  });

  it("maps are distinct, fresh copies, and unknown names fall back to viridis", () => {
    const luts = COLORMAP_NAMES.map((n) => Array.from(colormapLUT(n)).join());
    expect(new Set(luts).size).toBe(5);
    const a = colormapLUT("magma");
    a[0] = 99;
    expect(colormapLUT("magma")[0]).not.toBe(99);
    expect(colormapLUT("nope")).toEqual(colormapLUT("viridis"));
  });
});
