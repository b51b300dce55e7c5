import { describe, expect, it } from "vitest";
import {
  BLEND_MODES,
  blendHeatmap,
  casingFor,
  clamp01,
  colorbarPixels,
  contourLevels,
} from "../src/lib/blend.js";

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

describe("blendHeatmap dim mode", () => {
  it("darkens the pixels below the threshold by alpha and keeps the rest", () => {
    const rgba = new Uint8ClampedArray([200, 100, 50, 9, 200, 100, 50, 9, 200, 100, 50, 9]);
    const out = blendHeatmap(rgba, new Float32Array([0.1, 0.3, 0.9]), lut, {
      alpha: 0.75,
      threshold: 0.3,
      mode: "dim",
    });
    expect(px(out, 0)).toEqual([50, 25, 12, 255]); // 0.25 * (200, 100, 50): 12.5 rounds half to even
    expect(px(out, 1)).toEqual([200, 100, 50, 255]); // heat == threshold is kept
    expect(px(out, 2)).toEqual([200, 100, 50, 255]);
  });

  it("alpha 1 turns the rest black and alpha 0 leaves the image", () => {
    const rgba = image(2);
    const heat = new Float32Array([0, 1]);
    expect(px(blendHeatmap(rgba, heat, lut, { alpha: 1, threshold: 0.5, mode: "dim" }), 0)).toEqual([0, 0, 0, 255]);
    const none = blendHeatmap(rgba, heat, lut, { alpha: 0, threshold: 0.5, mode: "dim" });
    expect(px(none, 0)).toEqual([...px(rgba, 0).slice(0, 3), 255]);
  });
});

describe("blendHeatmap contour mode", () => {
  // 5 x 4 map: a plateau of 0.6 with a peak of 0.9 in its middle; a flat grey image
  const W = 5;
  // prettier-ignore
  const heat = new Float32Array([
    0, 0,   0,   0,   0,
    0, 0.6, 0.6, 0.6, 0,
    0, 0.6, 0.9, 0.6, 0,
    0, 0,   0,   0,   0,
  ]);
  const grey = () => {
    const rgba = new Uint8ClampedArray(W * 4 * 4);
    for (let i = 0; i < W * 4; i++) rgba.set([90, 90, 90, 255], i * 4);
    return rgba;
  };

  it("draws each level's line in its lut colour with a casing, over the untouched image", () => {
    // threshold 0.5: levels 0.5 and 0.75; with this lut, 0.5 -> (128, 127, 7): luma 112 -> white casing;
    // 0.75 -> (191, 64, 7): luma 95 -> white casing as well
    const out = blendHeatmap(grey(), heat, lut, { threshold: 0.5, mode: "contour", alpha: 0.9 }, W);
    const at = (x, y) => px(out, y * W + x);
    expect(at(1, 1)).toEqual([128, 127, 7, 255]); // on the plateau's rim: the 0.5 line
    expect(at(0, 1)).toEqual([255, 255, 255, 255]); // beside it, outside: its casing
    expect(at(2, 2)).toEqual([191, 64, 7, 255]); // the peak: the 0.75 line, drawn last
    expect(at(2, 1)).toEqual([255, 255, 255, 255]); // beside the peak: the 0.75 line's casing
    expect(at(4, 3)).toEqual([90, 90, 90, 255]); // a corner far from both: the image
  });

  it("reads neighbours by rows of the given width, not across row ends", () => {
    // 3 x 2 map [0 0 1 / 0 0 0]: pixel 3 (x 0, y 1) follows pixel 2 in memory but is not its neighbour
    const rgba = new Uint8ClampedArray(6 * 4).fill(90);
    const heat = new Float32Array([0, 0, 1, 0, 0, 0]);
    const rows = blendHeatmap(rgba, heat, lut, { threshold: 0.5, mode: "contour" }, 3);
    expect(px(rows, 3)).toEqual([90, 90, 90, 255]);
    expect(px(rows, 5)).not.toEqual([90, 90, 90, 255]); // below the 1: a casing
    const oneRow = blendHeatmap(rgba, heat, lut, { threshold: 0.5, mode: "contour" }, 6);
    expect(px(oneRow, 3)).not.toEqual([90, 90, 90, 255]);
    expect(() => blendHeatmap(rgba, heat, lut, { mode: "contour" }, 4)).toThrow(RangeError);
  });

  it("a flat map draws no line", () => {
    const out = blendHeatmap(grey(), new Float32Array(W * 4).fill(0.4), lut, { mode: "contour" }, W);
    expect(out).toEqual(grey());
  });
});

describe("contour levels and casings", () => {
  it("start at the threshold and keep fixed levels at least 0.15 above it", () => {
    expect(contourLevels(0)).toEqual([0.25, 0.5, 0.75]);
    expect(contourLevels(0.3)).toEqual([0.3, 0.5, 0.75]);
    expect(contourLevels(0.35)).toEqual([0.35, 0.5, 0.75]);
    expect(contourLevels(0.4)).toEqual([0.4, 0.75]);
    expect(contourLevels(0.9)).toEqual([0.9]);
    expect(contourLevels(NaN)).toEqual([0.25, 0.5, 0.75]);
  });

  it("casing: white beside a dark line, black beside a light one", () => {
    expect(casingFor([0, 0, 0])).toBe(255);
    expect(casingFor([59, 82, 139])).toBe(255); // viridis at 0.25
    expect(casingFor([253, 231, 37])).toBe(0); // viridis at 1
  });

  it("the menu order", () => {
    expect(BLEND_MODES).toEqual(["overlay", "contour", "dim", "kept"]);
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
