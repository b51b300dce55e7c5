import { describe, expect, it } from "vitest";
import { imagePixelFromClient } from "../src/lib/geometry.js";

// A 4x2 image displayed at 200x100 CSS px, 10 px from the left and 20 px from the top.
const rect = { left: 10, top: 20, width: 200, height: 100 };

describe("imagePixelFromClient", () => {
  it("scales client coordinates to image pixels", () => {
    expect(imagePixelFromClient(10, 20, rect, 4, 2)).toEqual({ x: 0, y: 0 });
    expect(imagePixelFromClient(59.9, 69.9, rect, 4, 2)).toEqual({ x: 0, y: 0 });
    expect(imagePixelFromClient(60, 70, rect, 4, 2)).toEqual({ x: 1, y: 1 });
    expect(imagePixelFromClient(160, 30, rect, 4, 2)).toEqual({ x: 3, y: 0 });
  });

  it("clamps the right and bottom edges to the last pixel", () => {
    expect(imagePixelFromClient(210, 120, rect, 4, 2)).toEqual({ x: 3, y: 1 });
  });

  it("handles upscaled and downscaled images", () => {
    const small = { left: 0, top: 0, width: 50, height: 50 };
    expect(imagePixelFromClient(25, 49, small, 500, 500)).toEqual({ x: 250, y: 490 });
  });

  it("returns null outside the rectangle", () => {
    expect(imagePixelFromClient(9.9, 50, rect, 4, 2)).toBeNull();
    expect(imagePixelFromClient(210.1, 50, rect, 4, 2)).toBeNull();
    expect(imagePixelFromClient(50, 19, rect, 4, 2)).toBeNull();
    expect(imagePixelFromClient(50, 121, rect, 4, 2)).toBeNull();
    expect(imagePixelFromClient(NaN, 50, rect, 4, 2)).toBeNull();
  });

  it("returns null for empty rectangles or images", () => {
    expect(imagePixelFromClient(10, 20, { ...rect, width: 0 }, 4, 2)).toBeNull();
    expect(imagePixelFromClient(50, 50, rect, 0, 2)).toBeNull();
  });
});
