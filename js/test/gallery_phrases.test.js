import { describe, expect, it } from "vitest";
import { PHRASE_SEPARATOR, splitPhrases } from "../src/lib/phrases.js";

describe("splitPhrases", () => {
  it("splits a line at its middle dots, trimming each phrase", () => {
    expect(splitPhrases("2 samples · median SSIM 0.10")).toEqual(["2 samples", "median SSIM 0.10"]);
    expect(splitPhrases("a·b  ·  c d")).toEqual(["a", "b", "c d"]);
  });

  it("keeps a line without separators whole and drops empty phrases", () => {
    expect(splitPhrases("1. blue wings")).toEqual(["1. blue wings"]);
    expect(splitPhrases(" · a ·  · ")).toEqual(["a"]);
    expect(splitPhrases("")).toEqual([]);
    expect(splitPhrases(undefined)).toEqual([]);
  });

  it("joins back to the line with the separator", () => {
    const line = "#0 · query";
    expect(splitPhrases(line).join(PHRASE_SEPARATOR)).toBe(line);
  });
});
