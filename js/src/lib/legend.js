// The heatmap view's legend: what its colour bar shows and where its tick labels go, per blend mode (no DOM).

import { clamp01, colorbarPixels, contourLevels } from "./blend.js";

/** Grey of the bar's part that the image shows unchanged ("dim" and "kept"). */
export const LEGEND_LIGHT = 240;
/** Grey of the bar below the first contour level, where no line is drawn. */
export const LEGEND_NO_LINE = 235;

/**
 * @typedef {object} LegendTick
 * @property {number} at position along the bar, 0 (left, value 0) to 1 (right, value 1).
 * @property {string} label the value as text, e.g. "0.5".
 */

/**
 * @typedef {object} Legend
 * @property {Uint8ClampedArray<ArrayBuffer>} pixels RGBA strip, length * 4, alpha 255 (1 pixel high).
 * @property {LegendTick[]} ticks tick labels, left to right.
 */

/**
 * A value as a short tick label: at most two decimals, no trailing zeros ("0", "0.5", "0.15", "1").
 *
 * @param {number} value in [0, 1].
 * @returns {string}
 */
export function tickLabel(value) {
  return String(Number(value.toFixed(2)));
}

/**
 * The legend of a blend mode (see blendHeatmap for the modes):
 * - "overlay" (and unknown modes): the colormap from 0 to 1, ticks 0, 0.5, 1.
 * - "contour": each contour level's colour from that level up to the next, LEGEND_NO_LINE below the
 *   first; a tick at each level.
 * - "dim": the part below the threshold as dark as the blend makes a LEGEND_LIGHT pixel, the rest
 *   LEGEND_LIGHT; "kept": the part below the threshold grey 128. Ticks 0, the threshold (when in (0, 1)), 1.
 *
 * @param {string} mode blend mode.
 * @param {Uint8Array | ArrayLike<number>} lut colour lookup table, length 256 * 3.
 * @param {number} length bar width in pixels (integer >= 0).
 * @param {number} threshold clamped to [0, 1].
 * @param {number} alpha clamped to [0, 1].
 * @returns {Legend}
 */
export function legendFor(mode, lut, length, threshold, alpha) {
  const t = clamp01(threshold);
  if (mode === "contour") return contourLegend(lut, length, contourLevels(t));
  if (mode === "dim" || mode === "kept") {
    const below = mode === "dim" ? Math.round((1 - clamp01(alpha)) * LEGEND_LIGHT) : 128;
    const grey = (/** @type {number} */ at) => (at < t ? below : LEGEND_LIGHT);
    const ticks = [0, ...(t > 0 && t < 1 ? [t] : []), 1];
    return {
      pixels: stripPixels(length, (at) => [grey(at), grey(at), grey(at)]),
      ticks: ticks.map((at) => ({ at, label: tickLabel(at) })),
    };
  }
  return {
    pixels: colorbarPixels(lut, length),
    ticks: [0, 0.5, 1].map((at) => ({ at, label: tickLabel(at) })),
  };
}

/**
 * @param {Uint8Array | ArrayLike<number>} lut length 256 * 3.
 * @param {number} length bar width in pixels.
 * @param {number[]} levels ascending contour levels in (0, 1].
 * @returns {Legend}
 */
function contourLegend(lut, length, levels) {
  /** @param {number} at */
  const colour = (at) => {
    const level = levels.filter((l) => l <= at).pop();
    if (level === undefined) return [LEGEND_NO_LINE, LEGEND_NO_LINE, LEGEND_NO_LINE];
    const k = Math.round(level * 255) * 3;
    return [lut[k], lut[k + 1], lut[k + 2]];
  };
  return {
    pixels: stripPixels(length, colour),
    ticks: levels.map((at) => ({ at, label: tickLabel(at) })),
  };
}

/**
 * @param {number} length strip width in pixels.
 * @param {(at: number) => ArrayLike<number>} colourAt RGB of the pixel at position at in [0, 1].
 * @returns {Uint8ClampedArray<ArrayBuffer>} RGBA, length * 4, alpha 255.
 */
function stripPixels(length, colourAt) {
  const len = Math.max(0, Math.floor(length) || 0);
  const out = new Uint8ClampedArray(len * 4);
  for (let i = 0; i < len; i++) {
    out.set(colourAt(len > 1 ? i / (len - 1) : 0), i * 4);
    out[i * 4 + 3] = 255;
  }
  return out;
}
