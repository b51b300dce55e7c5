import { describe, expect, it } from "vitest";
import {
  boxOnFit,
  DARK_HALO,
  fitContain,
  haloColour,
  insetForStroke,
  LIGHT_HALO,
} from "../src/lib/thumbnail_fit.js";

describe("fitContain", () => {
  it("letterboxes a wide image: full width, centred vertically", () => {
    expect(fitContain(200, 100, 96)).toEqual({ x: 0, y: 24, width: 96, height: 48, scale: 0.48 });
  });

  it("pillarboxes a tall image: full height, centred horizontally", () => {
    expect(fitContain(30, 60, 120)).toEqual({ x: 30, y: 0, width: 60, height: 120, scale: 2 });
  });

  it("scales a small square image up to fill the box", () => {
    expect(fitContain(8, 8, 64)).toEqual({ x: 0, y: 0, width: 64, height: 64, scale: 8 });
  });

  it("keeps the aspect ratio for any size", () => {
    const fit = fitContain(640, 427, 100);
    expect(fit.width / fit.height).toBeCloseTo(640 / 427, 10);
    expect(fit.width).toBe(100);
    expect(fit.y + fit.height / 2).toBeCloseTo(50, 10);
  });

  it("returns the whole box with scale 0 when the image size is unknown", () => {
    expect(fitContain(0, 10, 50)).toEqual({ x: 0, y: 0, width: 50, height: 50, scale: 0 });
    expect(fitContain(NaN, 10, 50).scale).toBe(0);
    expect(fitContain(10, Infinity, 50).scale).toBe(0);
    expect(fitContain(10, 10, 0)).toEqual({ x: 0, y: 0, width: 0, height: 0, scale: 0 });
    expect(fitContain(10, 10, -5).width).toBe(0);
  });
});

describe("boxOnFit", () => {
  const wide = fitContain(200, 100, 96); // scale 0.48, image drawn from y = 24

  it("maps image pixels onto the fitted image, offset by the letterbox", () => {
    expect(boxOnFit({ x0: 50, y0: 25, x1: 150, y1: 75 }, wide, 200, 100)).toEqual({
      x: 24,
      y: 36,
      width: 48,
      height: 24,
    });
  });

  it("maps the whole image onto the fitted rectangle", () => {
    const tall = fitContain(30, 60, 120);
    expect(boxOnFit({ x0: 0, y0: 0, x1: 30, y1: 60 }, tall, 30, 60)).toEqual({
      x: 30,
      y: 0,
      width: 60,
      height: 120,
    });
  });

  it("clips a rectangle to the image, infinite edges included", () => {
    expect(boxOnFit({ x0: -20, y0: 90, x1: 50, y1: 140 }, wide, 200, 100)).toEqual({
      x: 0,
      y: 24 + 90 * 0.48,
      width: 24,
      height: 10 * 0.48,
    });
    expect(boxOnFit({ x0: 100, y0: -Infinity, x1: Infinity, y1: 50 }, wide, 200, 100)).toEqual({
      x: 48,
      y: 24,
      width: 48,
      height: 24,
    });
  });

  it("returns null for rectangles off the image, empty, reversed or with NaN", () => {
    expect(boxOnFit({ x0: 210, y0: 0, x1: 300, y1: 50 }, wide, 200, 100)).toBeNull();
    expect(boxOnFit({ x0: 10, y0: 10, x1: 10, y1: 50 }, wide, 200, 100)).toBeNull();
    expect(boxOnFit({ x0: 50, y0: 10, x1: 10, y1: 50 }, wide, 200, 100)).toBeNull();
    expect(boxOnFit({ x0: NaN, y0: 10, x1: 20, y1: 50 }, wide, 200, 100)).toBeNull();
  });

  it("returns null when the image size is unknown", () => {
    const unknown = fitContain(0, 0, 96);
    expect(boxOnFit({ x0: 0, y0: 0, x1: 1, y1: 1 }, unknown, 0, 0)).toBeNull();
  });
});

describe("insetForStroke", () => {
  it("leaves a rectangle well inside the box as it is", () => {
    const rect = { x: 10, y: 20, width: 30, height: 40 };
    expect(insetForStroke(rect, 6, 96)).toEqual(rect);
  });

  it("moves edges on or past the border in by half the stroke", () => {
    const whole = { x: 0, y: 0, width: 96, height: 96 };
    expect(insetForStroke(whole, 6, 96)).toEqual({ x: 3, y: 3, width: 90, height: 90 });
    const corner = { x: 1, y: 50, width: 20, height: 46 };
    expect(insetForStroke(corner, 4, 96)).toEqual({ x: 2, y: 50, width: 19, height: 44 });
  });

  it("never returns a negative size, even for a sliver on the border", () => {
    const rect = insetForStroke({ x: 95, y: 0, width: 1, height: 10 }, 6, 96);
    expect(rect.x).toBe(93);
    expect(rect.width).toBe(0);
    expect(rect.height).toBe(7);
  });
});

describe("haloColour", () => {
  it("puts a dark halo under light outlines and a light one under dark outlines", () => {
    for (const light of ["#ffcc00", "#00E5FF", "#fff", "#e8e8e8"]) expect(haloColour(light)).toBe(DARK_HALO);
    for (const dark of ["#000", "#0072B2", "#d62728", "#1f3b5c"]) expect(haloColour(dark)).toBe(LIGHT_HALO);
  });

  it("treats colours it cannot read as light (a dark halo)", () => {
    expect(haloColour("red")).toBe(DARK_HALO);
    expect(haloColour("")).toBe(DARK_HALO);
    expect(haloColour("#12345")).toBe(DARK_HALO);
  });
});
