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

/** The blend modes, in menu order. */
export const BLEND_MODES = /** @type {const} */ (["overlay", "contour", "dim", "kept"]);

/** Fixed contour levels drawn above the threshold. */
export const CONTOUR_STEPS = /** @type {const} */ ([0.25, 0.5, 0.75]);

/** A fixed contour level is drawn only when it lies at least this far above the threshold. */
export const CONTOUR_GAP = 0.15;

/**
 * The iso-levels drawn in "contour" mode: the threshold (when above 0), then each of
 * CONTOUR_STEPS at least CONTOUR_GAP above it, ascending.
 *
 * @param {number} threshold clamped to [0, 1].
 * @returns {number[]} 0 to 4 levels in (0, 1].
 */
export function contourLevels(threshold) {
  const t = clamp01(threshold);
  const levels = t > 0 ? [t] : [];
  for (const step of CONTOUR_STEPS) {
    if (step - t >= CONTOUR_GAP - 1e-6) levels.push(step);
  }
  return levels;
}

/**
 * The casing drawn beside a contour line of colour rgb: white for a dark line, black for a light one
 * (luma 0.299 r + 0.587 g + 0.114 b below 128 is dark), so every line reads on any background.
 *
 * @param {ArrayLike<number>} rgb three channels, 0..255.
 * @returns {number} 255 (white) or 0 (black).
 */
export function casingFor(rgb) {
  return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] < 128 ? 255 : 0;
}

/**
 * @typedef {object} BlendOptions
 * @property {number} [alpha=0.5] overlay opacity ("overlay") or how far the rest is darkened ("dim"),
 *   clamped to [0, 1]; "contour" and "kept" ignore it.
 * @property {number} [threshold=0] pixels with heat >= threshold are "kept", clamped to [0, 1].
 * @property {string} [mode="overlay"] one of BLEND_MODES; anything else acts as "overlay".
 */

/**
 * Blend a heatmap onto an RGBA image.
 *
 * Heat values are clamped to [0, 1] and NaN counts as 0. For each pixel:
 * - "overlay": heat >= threshold -> (1 - alpha) * image + alpha * lut[round(heat * 255)];
 *   heat < threshold -> the plain image.
 * - "kept": heat >= threshold -> the plain image; heat < threshold -> grey (128, 128, 128).
 * - "dim": heat >= threshold -> the plain image; heat < threshold -> (1 - alpha) * image (toward black).
 * - "contour": the plain image with iso-lines at contourLevels(threshold), drawn level by level, lowest
 *   first. For a level L, a pixel with heat >= L and a 4-neighbour below L is on the line and takes
 *   lut[round(L * 255)]; a pixel below L with a 4-neighbour at or above L is its casing (casingFor the
 *   line colour, all three channels). Neighbours outside the image do not count.
 * The output alpha channel is always 255.
 *
 * @param {Uint8ClampedArray | Uint8Array} rgba image pixels, length W * H * 4, row-major RGBA.
 * @param {Float32Array | ArrayLike<number>} heat length W * H, row-major, values in [0, 1].
 * @param {Uint8Array | ArrayLike<number>} lut colour lookup table, length 256 * 3 (RGB per entry).
 * @param {BlendOptions} [options]
 * @param {number} [width] image width W, needed by "contour" only (default: one row, W = heat.length).
 * @returns {Uint8ClampedArray<ArrayBuffer>} a new array of length W * H * 4 (the inputs are not modified).
 * @throws {RangeError} when heat.length * 4 !== rgba.length, lut.length < 768, or width does not divide
 *   heat.length.
 */
export function blendHeatmap(rgba, heat, lut, options = {}, width = heat.length) {
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
  const values = Float32Array.from(heat, clamp01);
  const out = new Uint8ClampedArray(n * 4);
  for (let i = 0, p = 0; i < n; i++, p += 4) {
    const h = values[i];
    const below = h < threshold;
    if (options.mode === "kept" && below) {
      out.fill(KEPT_GREY, p, p + 3);
    } else if (options.mode === "dim" && below) {
      out[p] = (1 - alpha) * rgba[p];
      out[p + 1] = (1 - alpha) * rgba[p + 1];
      out[p + 2] = (1 - alpha) * rgba[p + 2];
    } else if (isOverlay(options.mode) && !below) {
      const k = Math.round(h * 255) * 3;
      out[p] = (1 - alpha) * rgba[p] + alpha * lut[k];
      out[p + 1] = (1 - alpha) * rgba[p + 1] + alpha * lut[k + 1];
      out[p + 2] = (1 - alpha) * rgba[p + 2] + alpha * lut[k + 2];
    } else {
      out[p] = rgba[p];
      out[p + 1] = rgba[p + 1];
      out[p + 2] = rgba[p + 2];
    }
    out[p + 3] = 255;
  }
  if (options.mode === "contour") drawContours(out, values, lut, threshold, width);
  return out;
}

/**
 * @param {string | undefined} mode
 * @returns {boolean} true for "overlay" and for any name that is not another mode.
 */
function isOverlay(mode) {
  return !BLEND_MODES.includes(/** @type {any} */ (mode)) || mode === "overlay";
}

/**
 * Paint the contour lines and their casings of contourLevels(threshold) into out (in place).
 *
 * @param {Uint8ClampedArray} out RGBA, length W * H * 4.
 * @param {Float32Array} heat length W * H, clamped to [0, 1].
 * @param {Uint8Array | ArrayLike<number>} lut length 256 * 3.
 * @param {number} threshold in [0, 1].
 * @param {number} width W, a divisor of heat.length.
 */
function drawContours(out, heat, lut, threshold, width) {
  const n = heat.length;
  if (!(width >= 1) || n % width !== 0) {
    throw new RangeError(`width ${width} does not divide the ${n} heatmap values`);
  }
  for (const level of contourLevels(threshold)) {
    const k = Math.round(level * 255) * 3;
    const line = [lut[k], lut[k + 1], lut[k + 2]];
    const casing = casingFor(line);
    for (let i = 0; i < n; i++) {
      const inside = heat[i] >= level;
      if (!crossesLevel(heat, i, width, level, inside)) continue;
      if (inside) out.set(line, i * 4);
      else out.fill(casing, i * 4, i * 4 + 3);
    }
  }
}

/**
 * Whether a 4-neighbour of pixel i lies on the other side of level.
 *
 * @param {Float32Array} heat length W * H.
 * @param {number} i pixel index.
 * @param {number} width W.
 * @param {number} level iso-level.
 * @param {boolean} inside heat[i] >= level.
 * @returns {boolean}
 */
function crossesLevel(heat, i, width, level, inside) {
  const x = i % width;
  const differs = (/** @type {number} */ j) => heat[j] >= level !== inside;
  return (
    (x > 0 && differs(i - 1)) ||
    (x < width - 1 && differs(i + 1)) ||
    (i >= width && differs(i - width)) ||
    (i + width < heat.length && differs(i + width))
  );
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
