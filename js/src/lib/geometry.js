// Mapping between screen (client) coordinates and image pixels (no DOM).

/**
 * @typedef {object} RectLike
 * @property {number} left client x of the drawn image's left edge (CSS px).
 * @property {number} top client y of the drawn image's top edge (CSS px).
 * @property {number} width displayed width (CSS px, > 0).
 * @property {number} height displayed height (CSS px, > 0).
 */

/**
 * Map a mouse position to the image pixel under it.
 *
 * The image (width x height pixels) is assumed to be stretched over `rect`.
 * A position on the rectangle's right or bottom edge maps to the last pixel.
 *
 * @param {number} clientX mouse x in client (viewport) CSS pixels.
 * @param {number} clientY mouse y in client (viewport) CSS pixels.
 * @param {RectLike} rect where the image is drawn, like a DOMRect.
 * @param {number} width image width in pixels (>= 1).
 * @param {number} height image height in pixels (>= 1).
 * @returns {{x: number, y: number} | null} integer pixel with 0 <= x <= width - 1 and
 *   0 <= y <= height - 1, or null when the position lies outside rect (or rect / image is empty).
 */
export function imagePixelFromClient(clientX, clientY, rect, width, height) {
  if (!(rect.width > 0 && rect.height > 0 && width >= 1 && height >= 1)) {
    return null;
  }
  const u = (clientX - rect.left) / rect.width;
  const v = (clientY - rect.top) / rect.height;
  if (!(u >= 0 && u <= 1 && v >= 0 && v <= 1)) return null; // also rejects NaN
  const x = Math.min(width - 1, Math.max(0, Math.floor(u * width)));
  const y = Math.min(height - 1, Math.max(0, Math.floor(v * height)));
  return { x, y };
}
