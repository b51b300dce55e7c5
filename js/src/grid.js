// anywidget view: a paged grid of image thumbnails, each with its map blended on
// top in the browser (lib/blend.js, the HeatmapView's maths and colormaps), a
// coloured frame (correct / wrong / none), a caption and a plain-text tooltip.
// A click (or Enter / Space on a focused tile) sets the synced `selected` key;
// arrow keys move the focus through the grid. The view knows nothing about runs:
// the DatasetExplorer fills it one page at a time.

import { asDataView, bytesFromDataView } from "./lib/binary.js";
import { BLEND_MODES, blendHeatmap } from "./lib/blend.js";
import { colormapLUT } from "./lib/colormaps.js";
import { PHRASE_SEPARATOR, splitPhrases } from "./lib/phrases.js";

/**
 * One tile as synced from Python.
 *
 * @typedef {object} GridTile
 * @property {string} key unique among the tiles (the DatasetExplorer uses the source index).
 * @property {string} caption text under the thumbnail ("crestling · 0.93"); wraps between its phrases.
 * @property {string} tooltip hover text and accessible name (plain text, never HTML).
 * @property {string} frame "correct" | "wrong" | "none".
 * @property {DataView} thumbnail PNG bytes of the T x T RGB thumbnail.
 * @property {DataView} map uint8 T x T row-major map (0..255 = 0..1); byteLength 0: no map.
 */

/**
 * Synced traits (defined on the Python side).
 *
 * @typedef {object} GridTraits
 * @property {GridTile[]} tiles
 * @property {number} columns the most tiles per row (fewer where the output area is narrower).
 * @property {number} tile_size drawn side of a thumbnail in CSS px.
 * @property {string} colormap a COLORMAP_NAMES entry.
 * @property {number} alpha 0..1, see blendHeatmap.
 * @property {number} threshold 0..1, see blendHeatmap.
 * @property {string} mode one of BLEND_MODES.
 * @property {string} selected key of the selected tile, "" for none (a click sets it).
 * @property {string} empty_text shown in place of the grid when there are no tiles.
 */

/** @typedef {import("@anywidget/types").AnyModel<GridTraits>} GridModel */
/** @typedef {{data: Uint8ClampedArray, width: number, height: number}} Pixels */

/** Frame colours: Okabe-Ito blue and vermillion (colourblind-safe), and a neutral grey. */
export const FRAME_COLOURS = { correct: "#0072b2", wrong: "#d55e00", none: "#8c959f" };
/** A badge in the thumbnail's corner, so the frame's meaning does not rest on colour alone. */
export const FRAME_MARKS = { correct: "✓", wrong: "✗", none: "" };

const CSS = `
.xw-grid{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;font-size:12px;line-height:1.3;color:#24292f;background:#fff;display:block;max-width:100%;box-sizing:border-box;padding:4px}
.xw-grid [hidden]{display:none!important}
.xw-grid .xw-grid-tiles{display:grid;gap:8px 6px;align-items:start;max-width:100%}
.xw-grid .xw-grid-tile{display:flex;flex-direction:column;align-items:center;cursor:pointer;outline:none;min-width:0}
.xw-grid .xw-grid-canvas{display:block;box-sizing:content-box;border:3px solid #8c959f;border-radius:3px;background:#f6f8fa}
.xw-grid .xw-grid-tile:hover .xw-grid-canvas{filter:brightness(1.08)}
.xw-grid .xw-grid-tile:focus-visible .xw-grid-canvas{outline:2px dashed #0969da;outline-offset:2px}
.xw-grid .xw-grid-tile-selected .xw-grid-canvas{outline:3px solid #0969da;outline-offset:2px}
.xw-grid .xw-grid-caption{margin-top:2px;font-size:11px;line-height:1.3;color:#57606a;text-align:center;overflow-wrap:anywhere}
.xw-grid .xw-grid-tile-selected .xw-grid-caption{color:#24292f;font-weight:600}
.xw-grid .xw-grid-thumb{position:relative}
.xw-grid .xw-grid-badge{position:absolute;left:5px;top:5px;width:16px;height:16px;border-radius:8px;color:#fff;font-size:11px;line-height:16px;font-weight:700;text-align:center;pointer-events:none}
.xw-grid .xw-phrase{display:inline-block;max-width:100%;overflow-wrap:anywhere}
.xw-grid .xw-grid-empty{font-style:italic;color:#57606a;padding:12px 4px}
`;

const ARROWS = { ArrowLeft: -1, ArrowRight: 1 };
/** A tile's width beyond its thumbnail (the frame, both sides), and the gap between two columns, in CSS px. */
const TILE_PAD = 6;
const COLUMN_GAP = 6;

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {string} [className]
 * @param {string} [text]
 * @returns {HTMLElementTagNameMap[K]}
 */
function h(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * @param {unknown} v
 * @param {number} fallback
 * @returns {number}
 */
function num(v, fallback) {
  const n = Number(v);
  return Number.isFinite(n) ? n : fallback;
}

/**
 * @param {unknown} v
 * @returns {string} v as a string, "" for null / undefined.
 */
function str(v) {
  return v === null || v === undefined ? "" : String(v);
}

/**
 * The frame of a tile: "correct", "wrong" or (anything else) "none".
 *
 * @param {unknown} frame
 * @returns {"correct" | "wrong" | "none"}
 */
export function frameOf(frame) {
  return frame === "correct" || frame === "wrong" ? frame : "none";
}

/**
 * A uint8 map (0..255) as floats in [0, 1].
 *
 * @param {DataView} dv n bytes.
 * @returns {Float32Array} length n.
 */
export function heatFromBytes(dv) {
  const out = new Float32Array(dv.byteLength);
  for (let i = 0; i < dv.byteLength; i++) out[i] = dv.getUint8(i) / 255;
  return out;
}

/**
 * The index of the tile the focus moves to from `index` on an arrow key, in a grid of `count` tiles
 * and `columns` columns; the same index at an edge.
 *
 * @param {number} index current tile, 0..count-1.
 * @param {string} key "ArrowLeft" | "ArrowRight" | "ArrowUp" | "ArrowDown" (others: unchanged).
 * @param {number} columns >= 1.
 * @param {number} count >= 1.
 * @returns {number}
 */
export function moveFocus(index, key, columns, count) {
  const step =
    key === "ArrowUp" ? -columns : key === "ArrowDown" ? columns : ARROWS[/** @type {"ArrowLeft"} */ (key)] ?? 0;
  const next = index + step;
  return next >= 0 && next < count ? next : index;
}

/**
 * Decode PNG bytes into RGBA pixels.
 *
 * @param {DataView} dv PNG file bytes.
 * @returns {Promise<Pixels>}
 */
async function decodePng(dv) {
  const blob = new Blob([bytesFromDataView(dv)], { type: "image/png" });
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  try {
    const { width, height } = bitmap;
    const scratch = document.createElement("canvas");
    scratch.width = width;
    scratch.height = height;
    const ctx = scratch.getContext("2d", { willReadFrequently: true });
    if (!ctx) throw new Error("2D canvas is not available");
    ctx.drawImage(bitmap, 0, 0);
    return { data: ctx.getImageData(0, 0, width, height).data, width, height };
  } finally {
    bitmap.close?.();
  }
}

/** @type {import("@anywidget/types").Render<GridTraits>} */
function render({ model, el }) {
  /** @type {Array<() => void>} */
  const disposers = [];
  let disposed = false;
  let drawSeq = 0;
  let decoding = false;
  let draws = 0;
  /** @type {Array<{key: string, node: HTMLDivElement, canvas: HTMLCanvasElement, pixels: Pixels | null, heat: Float32Array | null}>} */
  let drawn = [];

  /**
   * @param {string} name
   * @param {(...args: any[]) => void} fn
   */
  function onModel(name, fn) {
    model.on(name, fn);
    disposers.push(() => model.off(name, fn));
  }

  /**
   * @param {EventTarget} target
   * @param {string} type
   * @param {(ev: any) => void} fn
   */
  function listen(target, type, fn) {
    target.addEventListener(type, fn);
    disposers.push(() => target.removeEventListener(type, fn));
  }

  el.classList.add("xw-grid");
  el.dataset.ready = "false";
  el.dataset.draws = "0";
  const style = h("style");
  style.textContent = CSS;
  const grid = h("div", "xw-grid-tiles");
  grid.setAttribute("role", "list");
  const empty = h("div", "xw-grid-empty");
  el.append(style, grid, empty);

  /**
   * @param {GridTile} tile
   * @param {number} size CSS px.
   */
  function tileNode(tile, size) {
    const key = str(tile.key);
    const frame = frameOf(tile.frame);
    const node = h("div", `xw-grid-tile xw-grid-frame-${frame}`);
    node.tabIndex = 0;
    node.setAttribute("role", "button");
    node.dataset.key = key;
    node.dataset.frame = frame;
    const tooltip = str(tile.tooltip);
    node.title = tooltip;
    node.setAttribute("aria-label", tooltip || str(tile.caption) || key);
    const canvas = h("canvas", "xw-grid-canvas");
    canvas.style.width = `${size}px`;
    canvas.style.height = `${size}px`;
    canvas.style.borderColor = FRAME_COLOURS[frame];
    const caption = h("div", "xw-grid-caption");
    caption.style.maxWidth = `${size + 6}px`;
    splitPhrases(str(tile.caption)).forEach((phrase, i) => {
      if (i > 0) caption.append(PHRASE_SEPARATOR);
      caption.append(h("span", "xw-phrase", phrase));
    });
    const thumb = h("div", "xw-grid-thumb");
    thumb.append(canvas);
    if (FRAME_MARKS[frame]) {
      const badge = h("span", "xw-grid-badge", FRAME_MARKS[frame]);
      badge.style.background = FRAME_COLOURS[frame];
      badge.setAttribute("aria-hidden", "true");
      thumb.append(badge);
    }
    node.append(thumb, caption);
    return { key, node, canvas };
  }

  function blendOptions() {
    return {
      alpha: num(model.get("alpha"), 0.5),
      threshold: num(model.get("threshold"), 0),
      mode: str(model.get("mode")) || BLEND_MODES[0],
    };
  }

  /** Paint every decoded tile with the current blend (no decoding: colormap and alpha answer at once). */
  function paint() {
    if (decoding) return; // the pending draw paints when its tiles are decoded
    const lut = colormapLUT(str(model.get("colormap")));
    const options = blendOptions();
    for (const tile of drawn) {
      const { pixels, heat, canvas } = tile;
      if (!pixels) continue;
      canvas.width = pixels.width;
      canvas.height = pixels.height;
      const fits = heat !== null && heat.length === pixels.width * pixels.height;
      tile.node.dataset.map = String(fits);
      const data = fits ? blendHeatmap(pixels.data, heat, lut, options, pixels.width) : pixels.data;
      const ctx = canvas.getContext("2d");
      if (!ctx) continue;
      const out = ctx.createImageData(pixels.width, pixels.height);
      out.data.set(data);
      ctx.putImageData(out, 0, 0);
    }
    draws += 1;
    el.dataset.draws = String(draws);
    el.dataset.ready = "true";
  }

  async function draw() {
    const seq = ++drawSeq;
    decoding = true;
    el.dataset.ready = "false";
    /** @type {GridTile[]} */
    const tiles = Array.isArray(model.get("tiles")) ? model.get("tiles") : [];
    const size = Math.max(16, num(model.get("tile_size"), 96));
    const columns = Math.max(1, Math.floor(num(model.get("columns"), 6)));
    // As many columns as fit, at most `columns`: a narrow output area wraps the tiles instead of cutting them.
    grid.style.gridTemplateColumns = `repeat(auto-fill, ${size + TILE_PAD}px)`;
    grid.style.maxWidth = `${columns * (size + TILE_PAD) + (columns - 1) * COLUMN_GAP}px`;
    const nodes = tiles.map((tile) => tileNode(tile, size));
    const decoded = await Promise.all(
      tiles.map(async (tile) => {
        const bytes = asDataView(tile.thumbnail);
        const pixels = bytes.byteLength > 0 ? await decodePng(bytes).catch(() => null) : null;
        const map = asDataView(tile.map);
        return { pixels, heat: map.byteLength > 0 ? heatFromBytes(map) : null };
      }),
    );
    if (disposed || seq !== drawSeq) return;
    decoding = false;
    drawn = nodes.map((n, i) => ({ ...n, ...decoded[i] }));
    grid.replaceChildren(...drawn.map((t) => t.node));
    el.dataset.tiles = String(drawn.length);
    empty.textContent = str(model.get("empty_text")) || "no images";
    empty.hidden = drawn.length > 0;
    applySelection();
    paint();
  }

  function applySelection() {
    const selected = str(model.get("selected"));
    for (const { key, node } of drawn) {
      const on = key === selected && selected !== "";
      node.classList.toggle("xw-grid-tile-selected", on);
      node.setAttribute("aria-pressed", String(on));
    }
    el.dataset.selected = selected;
  }

  /** @param {string} key */
  function select(key) {
    model.set("selected", key);
    model.save_changes();
  }

  /**
   * @param {EventTarget | null} target
   * @returns {HTMLElement | null} the tile holding target.
   */
  function tileAt(target) {
    const node = target instanceof Element ? target.closest(".xw-grid-tile") : null;
    return node instanceof HTMLElement && grid.contains(node) ? node : null;
  }

  listen(grid, "click", (/** @type {MouseEvent} */ ev) => {
    const node = tileAt(ev.target);
    if (node) select(str(node.dataset.key));
  });
  listen(grid, "keydown", (/** @type {KeyboardEvent} */ ev) => {
    const node = tileAt(ev.target);
    if (!node) return;
    if (ev.key === "Enter" || ev.key === " ") {
      ev.preventDefault();
      select(str(node.dataset.key));
      return;
    }
    const index = drawn.findIndex((t) => t.node === node);
    const columns = Math.max(1, Math.floor(num(model.get("columns"), 6)));
    const next = moveFocus(index, ev.key, columns, drawn.length);
    if (next !== index) {
      ev.preventDefault();
      drawn[next].node.focus();
    }
  });

  const redraw = () => void draw();
  onModel("change:tiles", redraw);
  onModel("change:tile_size", redraw);
  onModel("change:columns", redraw);
  onModel("change:empty_text", redraw);
  for (const name of ["colormap", "alpha", "threshold", "mode"]) onModel(`change:${name}`, paint);
  onModel("change:selected", applySelection);

  void draw();
  return () => {
    disposed = true;
    for (const dispose of disposers) dispose();
    disposers.length = 0;
  };
}

export default { render };
