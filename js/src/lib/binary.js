// Binary helpers for synced traits. Python bytes / memoryview traits arrive in
// the browser as DataView objects (anywidget / ipywidgets buffer protocol).

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * Normalise a binary trait value to a DataView.
 *
 * @param {unknown} value a DataView (the normal case), any other ArrayBufferView
 *   (Uint8Array, ...), an ArrayBuffer, or null / undefined.
 * @returns {DataView} a view over the same bytes (no copy); byteLength 0 for
 *   null, undefined or anything that is not binary.
 */
export function asDataView(value) {
  if (value instanceof DataView) return value;
  if (ArrayBuffer.isView(value)) {
    return new DataView(value.buffer, value.byteOffset, value.byteLength);
  }
  if (value instanceof ArrayBuffer) return new DataView(value);
  return new DataView(new ArrayBuffer(0));
}

/**
 * Copy little-endian float32 data out of a DataView into a new Float32Array.
 *
 * The DataView may start at any byteOffset (it need not be 4-byte aligned,
 * which a Float32Array view over the same buffer would require).
 *
 * @param {DataView} dv byteLength must be a multiple of 4; holds n = byteLength / 4
 *   little-endian IEEE-754 float32 values.
 * @returns {Float32Array} a fresh array of length n (independent of dv's buffer).
 * @throws {RangeError} when byteLength is not a multiple of 4.
 */
export function float32FromDataView(dv) {
  if (dv.byteLength % 4 !== 0) {
    throw new RangeError(
      `float32 data must be a multiple of 4 bytes, got ${dv.byteLength}`,
    );
  }
  const n = dv.byteLength / 4;
  const out = new Float32Array(n);
  if (LITTLE_ENDIAN_HOST) {
    // Byte copy: works for unaligned offsets and is much faster than getFloat32.
    new Uint8Array(out.buffer).set(
      new Uint8Array(dv.buffer, dv.byteOffset, dv.byteLength),
    );
  } else {
    for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
  }
  return out;
}

/**
 * Copy the bytes of a DataView into a new Uint8Array (e.g. to build a Blob).
 *
 * @param {DataView} dv any byteOffset / byteLength.
 * @returns {Uint8Array<ArrayBuffer>} a fresh array of length dv.byteLength.
 */
export function bytesFromDataView(dv) {
  return new Uint8Array(dv.buffer, dv.byteOffset, dv.byteLength).slice();
}
