// Pure geometry for the gallery view (no DOM): where an image sits when it is
// fitted, aspect kept, into a square thumbnail box (CSS object-fit: contain),
// and where a rectangle given in the image's pixel coordinates lands on it.
// All lengths are CSS px measured from the box's top-left corner.

/**
 * @typedef {object} Fit
 * @property {number} x left of the drawn image inside the box.
 * @property {number} y top of the drawn image inside the box.
 * @property {number} width drawn width.
 * @property {number} height drawn height.
 * @property {number} scale CSS px per image pixel (> 0), or 0 when the image size is unknown.
 */

/**
 * @typedef {object} PixelBox
 * @property {number} x0 left edge in image pixels.
 * @property {number} y0 top edge in image pixels.
 * @property {number} x1 right edge in image pixels (> x0).
 * @property {number} y1 bottom edge in image pixels (> y0).
 */

/**
 * @typedef {object} Rect
 * @property {number} x left inside the box.
 * @property {number} y top inside the box.
 * @property {number} width (> 0).
 * @property {number} height (> 0).
 */

/**
 * Fit a width x height image into a side x side box, aspect kept and centred.
 *
 * Small images are scaled up to touch two opposite sides, like large ones are
 * scaled down.
 *
 * @param {number} width image width in pixels.
 * @param {number} height image height in pixels.
 * @param {number} side the box side in CSS px (> 0).
 * @returns {Fit} where the image is drawn; when width, height or side is not a
 *   positive finite number, the whole box (clamped to >= 0) with scale 0.
 */
export function fitContain(width, height, side) {
  if (!(width > 0 && height > 0 && side > 0 && Number.isFinite(width * height * side))) {
    const whole = side > 0 && Number.isFinite(side) ? side : 0;
    return { x: 0, y: 0, width: whole, height: whole, scale: 0 };
  }
  const scale = Math.min(side / width, side / height);
  const w = width * scale;
  const h = height * scale;
  return { x: (side - w) / 2, y: (side - h) / 2, width: w, height: h, scale };
}

/**
 * Map a rectangle in image pixels onto a fitted image.
 *
 * The rectangle is first clipped to the image (0..width, 0..height; an
 * infinite edge becomes the image's edge), so it never spills over the
 * letterbox margins.
 *
 * @param {PixelBox} box the rectangle in the image's pixel coordinates.
 * @param {Fit} fit where the image is drawn (from fitContain).
 * @param {number} width image width in pixels.
 * @param {number} height image height in pixels.
 * @returns {Rect | null} the rectangle in box CSS px, or null when nothing of it
 *   lies on the image (or fit.scale is 0, or a coordinate is NaN).
 */
export function boxOnFit(box, fit, width, height) {
  if (!(fit.scale > 0)) return null;
  const x0 = Math.max(0, Math.min(width, box.x0));
  const x1 = Math.max(0, Math.min(width, box.x1));
  const y0 = Math.max(0, Math.min(height, box.y0));
  const y1 = Math.max(0, Math.min(height, box.y1));
  if (!(x1 > x0 && y1 > y0)) return null; // also rejects NaN
  return {
    x: fit.x + x0 * fit.scale,
    y: fit.y + y0 * fit.scale,
    width: (x1 - x0) * fit.scale,
    height: (y1 - y0) * fit.scale,
  };
}

/**
 * Shrink a rectangle so that an outline of the given width drawn on its edge
 * stays wholly inside a side x side box (an outline on the box's border would
 * otherwise be half cut off by the thumbnail's clipping).
 *
 * @param {Rect} rect the rectangle in box CSS px (from boxOnFit).
 * @param {number} stroke the outline's full width in CSS px (>= 0).
 * @param {number} side the box side in CSS px.
 * @returns {Rect} the rectangle clipped to [stroke / 2, side - stroke / 2] on
 *   both axes; a rectangle thinner than that keeps a width or height of 0.
 */
export function insetForStroke(rect, stroke, side) {
  const half = Math.max(0, stroke) / 2;
  const low = Math.min(half, side / 2);
  const high = Math.max(side - half, side / 2);
  const x0 = Math.min(Math.max(rect.x, low), high);
  const y0 = Math.min(Math.max(rect.y, low), high);
  const x1 = Math.max(Math.min(rect.x + rect.width, high), x0);
  const y1 = Math.max(Math.min(rect.y + rect.height, high), y0);
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/**
 * The halo drawn under an outline so that it reads on any image: dark under a
 * light colour, light under a dark one.
 *
 * @param {string} colour the outline's CSS colour; "#rgb" and "#rrggbb" are
 *   read, any other form counts as light (a dark halo).
 * @returns {string} a CSS colour for the halo.
 */
export function haloColour(colour) {
  const hex = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(String(colour).trim());
  if (!hex) return DARK_HALO;
  const digits = hex[1].length === 3 ? [...hex[1]].map((d) => d + d).join("") : hex[1];
  const [r, g, b] = [0, 2, 4].map((i) => parseInt(digits.slice(i, i + 2), 16) / 255);
  const luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  return luminance >= 0.4 ? DARK_HALO : LIGHT_HALO;
}

/** The halo under a light outline. */
export const DARK_HALO = "rgba(0,0,0,0.85)";
/** The halo under a dark outline. */
export const LIGHT_HALO = "rgba(255,255,255,0.9)";
