import { describe, expect, it } from "vitest";
import { colorbarPixels } from "../src/lib/blend.js";
import { LEGEND_LIGHT, LEGEND_NO_LINE, legendFor, tickLabel } from "../src/lib/legend.js";

// A 256-entry LUT where entry i is (i, 255 - i, 7).
const lut = new Uint8Array(256 * 3);
for (let i = 0; i < 256; i++) lut.set([i, 255 - i, 7], i * 3);

const px = (rgba, i) => Array.from(rgba.slice(i * 4, i * 4 + 4));
const ticks = (legend) => legend.ticks.map((t) => [t.at, t.label]);

describe("legendFor", () => {
  it("overlay: the colormap with ticks 0, 0.5 and 1", () => {
    const legend = legendFor("overlay", lut, 101, 0.3, 0.5);
    expect(legend.pixels).toEqual(colorbarPixels(lut, 101));
    expect(ticks(legend)).toEqual([[0, "0"], [0.5, "0.5"], [1, "1"]]);
    expect(ticks(legendFor("unknown", lut, 10, 0, 0))).toEqual(ticks(legend));
  });

  it("contour: one colour per level band and a tick at each level", () => {
    const legend = legendFor("contour", lut, 101, 0.3, 0.5); // levels 0.3, 0.5, 0.75
    expect(ticks(legend)).toEqual([[0.3, "0.3"], [0.5, "0.5"], [0.75, "0.75"]]);
    expect(px(legend.pixels, 10)).toEqual([LEGEND_NO_LINE, LEGEND_NO_LINE, LEGEND_NO_LINE, 255]);
    expect(px(legend.pixels, 30)).toEqual([77, 178, 7, 255]); // lut[round(0.3 * 255) = 77]
    expect(px(legend.pixels, 60)).toEqual([128, 127, 7, 255]); // lut[128]
    expect(px(legend.pixels, 100)).toEqual([191, 64, 7, 255]); // lut[191]
  });

  it("dim: dark below the threshold as alpha darkens it, light above, a tick at the threshold", () => {
    const legend = legendFor("dim", lut, 11, 0.3, 0.75);
    const dark = Math.round(0.25 * LEGEND_LIGHT);
    expect(px(legend.pixels, 2)).toEqual([dark, dark, dark, 255]);
    expect(px(legend.pixels, 3)).toEqual([LEGEND_LIGHT, LEGEND_LIGHT, LEGEND_LIGHT, 255]);
    expect(ticks(legend)).toEqual([[0, "0"], [0.3, "0.3"], [1, "1"]]);
    expect(ticks(legendFor("dim", lut, 11, 0, 0.75))).toEqual([[0, "0"], [1, "1"]]);
  });

  it("kept: grey below the threshold", () => {
    const legend = legendFor("kept", lut, 11, 0.5, 0.2);
    expect(px(legend.pixels, 0)).toEqual([128, 128, 128, 255]);
    expect(px(legend.pixels, 10)).toEqual([LEGEND_LIGHT, LEGEND_LIGHT, LEGEND_LIGHT, 255]);
  });

  it("tick labels", () => {
    expect([0, 0.5, 0.25, 0.3333, 1].map(tickLabel)).toEqual(["0", "0.5", "0.25", "0.33", "1"]);
  });
});
