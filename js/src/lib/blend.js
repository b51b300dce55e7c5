// Pure pixel maths for the heatmap view (no DOM).

/** Grey used for pixels hidden in "kept" mode. */
export const KEPT_GREY = 128;

/**
 * Clamp a number to [0, 1]; NaN (and non-numbers) become 0.
 *
 * @param {number} v any number.
 * @returns {number} v clamped to [0, 1].
 */
export function clamp01(v) {
  if (!(v > 0)) return 0; // also catches NaN
  return v > 1 ? 1 : v;
}

/**
 * @typedef {object} BlendOptions
 * @property {number} [alpha=0.5] opacity of the colour overlay, clamped to [0, 1].
 * @property {number} [threshold=0] pixels with heat >= threshold are "kept",
 *   clamped to [0, 1].
 * @property {string} [mode="overlay"] "overlay" or "kept"; anything else acts as "overlay".
 */

/**
 * Blend a heatmap onto an RGBA image.
 *
 * Heat values are clamped to [0, 1] and NaN counts as 0. For each pixel:
 * - mode "overlay": heat >= threshold -> (1 - alpha) * image + alpha * lut[round(heat * 255)];
 *   heat < threshold -> the plain image.
 * - mode "kept": heat >= threshold -> the plain image; heat < threshold -> grey (128, 128, 128).
 * The output alpha channel is always 255.
 *
 * @param {Uint8ClampedArray | Uint8Array} rgba image pixels, length W * H * 4, row-major RGBA.
 * @param {Float32Array | ArrayLike<number>} heat length W * H, row-major, values in [0, 1].
 * @param {Uint8Array | ArrayLike<number>} lut colour lookup table, length 256 * 3 (RGB per entry).
 * @param {BlendOptions} [options]
 * @returns {Uint8ClampedArray<ArrayBuffer>} a new array of length W * H * 4 (the inputs are not modified).
 * @throws {RangeError} when heat.length * 4 !== rgba.length or lut.length < 768.
 */
export function blendHeatmap(rgba, heat, lut, options = {}) {
  const n = heat.length;
  if (rgba.length !== n * 4) {
    throw new RangeError(
      `image has ${rgba.length / 4} pixels but heatmap has ${n} values`,
    );
  }
  if (lut.length < 256 * 3) {
    throw new RangeError(`lut must have 768 entries, got ${lut.length}`);
  }
  const alpha = clamp01(options.alpha ?? 0.5);
  const threshold = clamp01(options.threshold ?? 0);
  const kept = options.mode === "kept";
  const beta = 1 - alpha;
  const out = new Uint8ClampedArray(n * 4);
  for (let i = 0, p = 0; i < n; i++, p += 4) {
    const h = clamp01(heat[i]);
    const above = h >= threshold;
    if (kept) {
      if (above) {
        out[p] = rgba[p];
        out[p + 1] = rgba[p + 1];
        out[p + 2] = rgba[p + 2];
      } else {
        out[p] = KEPT_GREY;
        out[p + 1] = KEPT_GREY;
        out[p + 2] = KEPT_GREY;
      }
    } else if (above) {
      const k = Math.round(h * 255) * 3;
      out[p] = beta * rgba[p] + alpha * lut[k];
      out[p + 1] = beta * rgba[p + 1] + alpha * lut[k + 1];
      out[p + 2] = beta * rgba[p + 2] + alpha * lut[k + 2];
    } else {
      out[p] = rgba[p];
      out[p + 1] = rgba[p + 1];
      out[p + 2] = rgba[p + 2];
    }
    out[p + 3] = 255;
  }
  return out;
}

/**
 * Pixels of a horizontal colorbar strip (a legend for the lookup table).
 *
 * Pixel i (0..length-1) shows lut[round(i / (length - 1) * 255)], so the left end
 * is value 0 and the right end value 1 (length 1 shows lut[0]).
 *
 * @param {Uint8Array | ArrayLike<number>} lut colour lookup table, length 256 * 3 (RGB per entry).
 * @param {number} length strip width in pixels (integer >= 0; the strip is 1 pixel high).
 * @returns {Uint8ClampedArray<ArrayBuffer>} RGBA, length length * 4, alpha 255.
 */
export function colorbarPixels(lut, length) {
  const len = Math.max(0, Math.floor(length) || 0);
  const out = new Uint8ClampedArray(len * 4);
  for (let i = 0; i < len; i++) {
    const k = Math.round((len > 1 ? i / (len - 1) : 0) * 255) * 3;
    out[i * 4] = lut[k];
    out[i * 4 + 1] = lut[k + 1];
    out[i * 4 + 2] = lut[k + 2];
    out[i * 4 + 3] = 255;
  }
  return out;
}
