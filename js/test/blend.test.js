import { describe, expect, it } from "vitest";
import { blendHeatmap, clamp01, colorbarPixels } from "../src/lib/blend.js";

// A 256-entry LUT where entry i is (i, 255 - i, 7).
const lut = new Uint8Array(256 * 3);
for (let i = 0; i < 256; i++) lut.set([i, 255 - i, 7], i * 3);

/** RGBA image of n pixels with distinct colours and a non-255 alpha. */
function image(n) {
  const rgba = new Uint8ClampedArray(n * 4);
  for (let i = 0; i < n; i++) rgba.set([10 + i, 100 + i, 200 - i, 17], i * 4);
  return rgba;
}

/** Pixel i of an RGBA array as [r, g, b, a]. */
const px = (rgba, i) => Array.from(rgba.slice(i * 4, i * 4 + 4));

describe("blendHeatmap overlay", () => {
  const heat = new Float32Array([0, 0.2, 0.5, 1]);

  it("alpha 0 reproduces the image (with opaque alpha)", () => {
    const rgba = image(4);
    const out = blendHeatmap(rgba, heat, lut, { alpha: 0, threshold: 0, mode: "overlay" });
    for (let i = 0; i < 4; i++) expect(px(out, i)).toEqual([...px(rgba, i).slice(0, 3), 255]);
  });

  it("alpha 1 shows the lut colour of round(heat * 255)", () => {
    const out = blendHeatmap(image(4), heat, lut, { alpha: 1, threshold: 0, mode: "overlay" });
    expect(px(out, 0)).toEqual([0, 255, 7, 255]);
    expect(px(out, 1)).toEqual([51, 204, 7, 255]); // round(0.2 * 255) = 51
    expect(px(out, 2)).toEqual([128, 127, 7, 255]); // round(127.5) = 128
    expect(px(out, 3)).toEqual([255, 0, 7, 255]);
  });

  it("alpha 0.5 mixes image and colour", () => {
    const rgba = new Uint8ClampedArray([100, 0, 200, 255]);
    const out = blendHeatmap(rgba, new Float32Array([1]), lut, { alpha: 0.5 });
    expect(px(out, 0)).toEqual([178, 0, 104, 255]); // (100+255)/2=177.5 -> 178 (round half even), (200+7)/2=103.5 -> 104
  });

  it("threshold leaves low pixels as the plain image", () => {
    const rgba = image(4);
    const out = blendHeatmap(rgba, heat, lut, { alpha: 1, threshold: 0.5, mode: "overlay" });
    expect(px(out, 0)).toEqual([...px(rgba, 0).slice(0, 3), 255]);
    expect(px(out, 1)).toEqual([...px(rgba, 1).slice(0, 3), 255]);
    expect(px(out, 2)).toEqual([128, 127, 7, 255]); // heat == threshold counts as kept
    expect(px(out, 3)).toEqual([255, 0, 7, 255]);
  });

  it("does not modify its inputs and returns a new Uint8ClampedArray", () => {
    const rgba = image(4);
    const copy = rgba.slice();
    const out = blendHeatmap(rgba, heat, lut, { alpha: 0.7 });
    expect(out).toBeInstanceOf(Uint8ClampedArray);
    expect(out).not.toBe(rgba);
    expect(rgba).toEqual(copy);
  });
});

describe("blendHeatmap kept mode", () => {
  it("keeps the image above the threshold and greys out the rest", () => {
    const rgba = image(3);
    const out = blendHeatmap(rgba, new Float32Array([0.1, 0.6, 0.9]), lut, {
      alpha: 1,
      threshold: 0.5,
      mode: "kept",
    });
    expect(px(out, 0)).toEqual([128, 128, 128, 255]);
    expect(px(out, 1)).toEqual([...px(rgba, 1).slice(0, 3), 255]);
    expect(px(out, 2)).toEqual([...px(rgba, 2).slice(0, 3), 255]);
  });
});

describe("blendHeatmap value handling", () => {
  it("counts NaN as 0 and clamps out-of-range heat", () => {
    const heat = new Float32Array([NaN, -3, 7]);
    const out = blendHeatmap(image(3), heat, lut, { alpha: 1, threshold: 0, mode: "overlay" });
    expect(px(out, 0)).toEqual([0, 255, 7, 255]);
    expect(px(out, 1)).toEqual([0, 255, 7, 255]);
    expect(px(out, 2)).toEqual([255, 0, 7, 255]);
  });

  it("NaN falls below any positive threshold", () => {
    const rgba = image(2);
    const kept = blendHeatmap(rgba, new Float32Array([NaN, 0.9]), lut, { threshold: 0.01, mode: "kept" });
    expect(px(kept, 0)).toEqual([128, 128, 128, 255]);
    const overlay = blendHeatmap(rgba, new Float32Array([NaN, 0.9]), lut, { alpha: 1, threshold: 0.01 });
    expect(px(overlay, 0)).toEqual([...px(rgba, 0).slice(0, 3), 255]);
  });

  it("rejects mismatched sizes", () => {
    expect(() => blendHeatmap(image(3), new Float32Array(4), lut)).toThrow(RangeError);
    expect(() => blendHeatmap(image(1), new Float32Array(1), new Uint8Array(10))).toThrow(RangeError);
  });

  it("clamp01", () => {
    expect([NaN, -1, 0, 0.3, 1, 2].map(clamp01)).toEqual([0, 0, 0, 0.3, 1, 1]);
  });
});

describe("colorbarPixels", () => {
  it("runs from lut[0] to lut[255]", () => {
    const out = colorbarPixels(lut, 256);
    expect(out.length).toBe(256 * 4);
    expect(px(out, 0)).toEqual([0, 255, 7, 255]);
    expect(px(out, 128)).toEqual([128, 127, 7, 255]);
    expect(px(out, 255)).toEqual([255, 0, 7, 255]);
  });

  it("resamples to other lengths", () => {
    const out = colorbarPixels(lut, 3);
    expect([px(out, 0), px(out, 1), px(out, 2)]).toEqual([
      [0, 255, 7, 255],
      [128, 127, 7, 255],
      [255, 0, 7, 255],
    ]);
    expect(colorbarPixels(lut, 0).length).toBe(0);
    expect(px(colorbarPixels(lut, 1), 0)).toEqual([0, 255, 7, 255]);
  });
});
