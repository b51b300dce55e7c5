// anywidget view: an RGB image with a float heatmap blended on top.
// All colour maths (colormap, alpha, threshold, mode) runs here in the browser,
// so the controls respond without a kernel round trip and keep working in
// static HTML exports. See js/src/lib/ for the pure helpers.

import { COLORMAP_NAMES, colormapLUT } from "./lib/colormaps.js";
import {
  asDataView,
  bytesFromDataView,
  float32FromDataView,
} from "./lib/binary.js";
import { BLEND_MODES, blendHeatmap } from "./lib/blend.js";
import { legendFor } from "./lib/legend.js";
import { imagePixelFromClient } from "./lib/geometry.js";

/**
 * Synced traits (defined on the Python side).
 *
 * @typedef {object} HeatmapTraits
 * @property {DataView} image PNG bytes of an RGB image.
 * @property {number} width image width in pixels.
 * @property {number} height image height in pixels.
 * @property {DataView} heatmap float32 little-endian, height x width row-major,
 *   values in [0, 1]; byteLength 0 means "no map".
 * @property {string} colormap one of COLORMAP_NAMES.
 * @property {number} alpha overlay opacity ("overlay") or how far the rest is darkened ("dim"), 0..1.
 * @property {number} threshold 0..1; see blendHeatmap.
 * @property {string} mode one of BLEND_MODES: "overlay" | "contour" | "dim" | "kept".
 * @property {boolean} show_controls show the sliders and selects.
 * @property {boolean} show_legend show the legend (colour bar and ticks) under the image.
 * @property {string} note a line from Python under the image (e.g. what a click found); hidden when empty.
 * @property {number} display_width CSS width of the drawn image in px (<= 0: natural size).
 * @property {boolean} pixelated use `image-rendering: pixelated` on the canvas.
 * @property {string} title text above the image (hidden when empty); it wraps only between
 *   phrases separated by " · ", never inside one.
 */

/** @typedef {import("@anywidget/types").AnyModel<HeatmapTraits>} HeatmapModel */
/** @typedef {{data: Uint8ClampedArray, width: number, height: number}} Pixels */

/** @type {Record<(typeof BLEND_MODES)[number], string>} */
const MODE_LABELS = {
  overlay: "overlay",
  contour: "contour lines",
  dim: "dim the rest",
  kept: "kept pixels only",
};
const MODES = BLEND_MODES.map((m) => /** @type {const} */ ([m, MODE_LABELS[m]]));
/** Modes whose drawing does not depend on alpha: its slider is disabled there. */
const MODES_WITHOUT_ALPHA = ["contour", "kept"];
/** Separator of the title's phrases: the title may wrap there and nowhere else. */
const TITLE_SEPARATOR = " · ";

const COLORBAR_LENGTH = 256;

const CSS = `
.xw-heatmap{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;font-size:12px;line-height:1.4;color:var(--jp-ui-font-color1,#1f2328);display:inline-block;max-width:100%;box-sizing:border-box}
.xw-heatmap [hidden]{display:none!important}
.xw-heatmap .xw-inner{max-width:100%}
.xw-heatmap .xw-title{font-size:13px;font-weight:600;margin:0 0 4px}
.xw-heatmap .xw-phrase{display:inline-block;white-space:nowrap;max-width:100%;overflow:hidden;
  text-overflow:ellipsis;vertical-align:bottom}
.xw-heatmap .xw-canvas{display:block;box-sizing:content-box;max-width:calc(100% - 2px);height:auto;border:1px solid #d0d7de;background:#fff;cursor:crosshair}
.xw-heatmap .xw-legend{display:flex;align-items:flex-start;gap:6px;margin-top:4px;font-size:12px;line-height:14px;
  color:#57606a}
.xw-heatmap .xw-legend-end{flex:none;white-space:nowrap}
.xw-heatmap .xw-legend-bar{flex:1 1 auto;min-width:0;padding-bottom:16px;position:relative}
.xw-heatmap .xw-colorbar{display:block;box-sizing:border-box;width:100%;height:12px;border:1px solid #d0d7de}
.xw-heatmap .xw-tick{position:absolute;top:14px;font-size:11px;line-height:14px;white-space:nowrap;
  font-variant-numeric:tabular-nums}
.xw-heatmap .xw-tick::before{content:"";position:absolute;top:-3px;left:50%;height:3px;border-left:1px solid #57606a}
.xw-heatmap .xw-tick.xw-first{transform:none}.xw-heatmap .xw-tick.xw-first::before{left:0}
.xw-heatmap .xw-tick.xw-last{transform:translateX(-100%)}.xw-heatmap .xw-tick.xw-last::before{left:auto;right:0}
.xw-heatmap .xw-tick.xw-mid{transform:translateX(-50%)}
.xw-heatmap .xw-note{margin-top:4px;color:var(--jp-ui-font-color1,#1f2328)}
.xw-heatmap .xw-controls{display:grid;grid-template-columns:auto minmax(80px,1fr) 3em;gap:2px 8px;align-items:center;margin-top:6px}
.xw-heatmap .xw-controls label{white-space:nowrap}
.xw-heatmap .xw-controls input[type=range]{width:100%;margin:0}
.xw-heatmap .xw-controls select{font:inherit;padding:1px 2px;min-width:0}
.xw-heatmap .xw-readout{text-align:right;font-variant-numeric:tabular-nums;color:#57606a}
.xw-heatmap .xw-status{min-height:1.4em;margin-top:4px;color:#57606a;font-variant-numeric:tabular-nums;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
`;

let instanceCount = 0;

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
 * Decode PNG bytes into RGBA pixels.
 *
 * @param {DataView} dv PNG file bytes.
 * @returns {Promise<Pixels>}
 */
async function decodePng(dv) {
  if (typeof createImageBitmap !== "function") {
    throw new Error("createImageBitmap is not available in this browser");
  }
  const blob = new Blob([bytesFromDataView(dv)], { type: "image/png" });
  const bitmap = await createImageBitmap(blob, {
    colorSpaceConversion: "none",
    premultiplyAlpha: "none",
  });
  try {
    const { width, height } = bitmap;
    const scratch = document.createElement("canvas");
    scratch.width = width;
    scratch.height = height;
    const ctx = scratch.getContext("2d", { willReadFrequently: true });
    if (!ctx) throw new Error("2D canvas is not available");
    ctx.drawImage(bitmap, 0, 0);
    const img = ctx.getImageData(0, 0, width, height);
    return { data: img.data, width, height };
  } finally {
    bitmap.close?.();
  }
}

/** @type {import("@anywidget/types").Render<HeatmapTraits>} */
function render({ model, el }) {
  const uid = `xw-heatmap-${++instanceCount}`;
  /** @type {Array<() => void>} */
  const disposers = [];
  /** @type {Array<() => void>} */
  let controlDisposers = [];
  let disposed = false;

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
   * @param {Array<() => void>} [list]
   */
  function listen(target, type, fn, list = disposers) {
    target.addEventListener(type, fn);
    list.push(() => target.removeEventListener(type, fn));
  }

  // ---- DOM -------------------------------------------------------------
  el.classList.add("xw-heatmap");
  el.dataset.ready = "false";
  el.dataset.draws = "0";

  const style = h("style");
  style.textContent = CSS;
  const inner = h("div", "xw-inner");
  const title = h("div", "xw-title");
  const canvas = h("canvas", "xw-canvas");
  const legend = h("div", "xw-legend");
  const colorbar = h("canvas", "xw-colorbar");
  colorbar.width = COLORBAR_LENGTH;
  colorbar.height = 1;
  const bar = h("div", "xw-legend-bar");
  const ticks = h("div", "xw-ticks");
  bar.append(colorbar, ticks);
  legend.append(h("span", "xw-legend-end", "low"), bar, h("span", "xw-legend-end", "high"));
  const note = h("div", "xw-note");
  const controls = h("div", "xw-controls");
  const status = h("div", "xw-status");
  inner.append(title, canvas, legend, note, controls, status);
  el.append(style, inner);

  // ---- state -------------------------------------------------------------
  /** @type {Pixels | null} decoded image pixels */
  let base = null;
  /** @type {Float32Array | null} */
  let heat = null;
  let heatError = "";
  let imageError = "";
  let imageSeq = 0;
  let decoding = false;
  let drawScheduled = false;
  let draws = 0;
  /** @type {Uint8Array} */
  let lut = colormapLUT(String(model.get("colormap")));
  /** Text that the status line returns to when the mouse leaves. */
  let baseStatus = "";
  /** Text from the Python side (custom message). */
  let pyStatus = "";
  /** @type {string[]} problems found by the last draw (bad data, size mismatch). */
  let problems = [];

  function setStatus(/** @type {string} */ text) {
    status.textContent = text;
  }

  function refreshStatus() {
    baseStatus = [pyStatus, ...problems].filter(Boolean).join(" | ");
    setStatus(baseStatus);
  }

  function imageSize() {
    if (base) return { w: base.width, h: base.height };
    return {
      w: Math.max(0, Math.floor(num(model.get("width"), 0))),
      h: Math.max(0, Math.floor(num(model.get("height"), 0))),
    };
  }

  function heatFits() {
    const { w, h: hh } = imageSize();
    return heat !== null && heat.length === w * hh && w * hh > 0;
  }

  function scheduleDraw() {
    el.dataset.ready = "false";
    if (drawScheduled) return;
    drawScheduled = true;
    queueMicrotask(() => {
      drawScheduled = false;
      if (!disposed) draw();
    });
  }

  function draw() {
    if (decoding) return; // the pending decode schedules a draw when it is done
    const { w, h: hh } = imageSize();
    if (canvas.width !== w) canvas.width = w;
    if (canvas.height !== hh) canvas.height = hh;
    problems = [];
    if (imageError) problems.push(imageError);
    if (heatError) problems.push(heatError);
    const ctx = canvas.getContext("2d");
    if (ctx && w > 0 && hh > 0) {
      if (base) {
        /** @type {Uint8ClampedArray} */
        let pixels = base.data;
        if (heat && heat.length > 0) {
          if (heatFits()) {
            pixels = blendHeatmap(base.data, heat, lut, blendOptions(), w);
          } else {
            problems.push(
              `heatmap has ${heat.length} values, image is ${w}x${hh}`,
            );
          }
        }
        const out = ctx.createImageData(w, hh);
        out.data.set(pixels);
        ctx.putImageData(out, 0, 0);
        const tw = num(model.get("width"), w);
        const th = num(model.get("height"), hh);
        if (tw !== w || th !== hh) {
          problems.push(`image is ${w}x${hh}, width/height say ${tw}x${th}`);
        }
      } else {
        ctx.clearRect(0, 0, w, hh);
      }
    }
    showLegend();
    updateLegend();
    refreshStatus();
    draws += 1;
    el.dataset.draws = String(draws);
    el.dataset.ready = "true";
  }

  async function loadImage() {
    const seq = ++imageSeq;
    el.dataset.ready = "false";
    const dv = asDataView(model.get("image"));
    if (dv.byteLength === 0) {
      base = null;
      imageError = "";
      decoding = false;
      scheduleDraw();
      return;
    }
    decoding = true;
    /** @type {Pixels | null} */
    let pixels = null;
    let error = "";
    try {
      pixels = await decodePng(dv);
    } catch (err) {
      error = `could not decode image: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (seq !== imageSeq || disposed) return; // a newer image superseded this one
    base = pixels;
    imageError = error;
    decoding = false;
    scheduleDraw();
  }

  function loadHeat() {
    heatError = "";
    const dv = asDataView(model.get("heatmap"));
    if (dv.byteLength === 0) {
      heat = null;
      return;
    }
    try {
      heat = float32FromDataView(dv);
    } catch (err) {
      heat = null;
      heatError = `bad heatmap: ${err instanceof Error ? err.message : String(err)}`;
    }
  }

  function blendOptions() {
    return {
      alpha: num(model.get("alpha"), 0.5),
      threshold: num(model.get("threshold"), 0),
      mode: String(model.get("mode")),
    };
  }

  /** Draw the legend of the current mode: its bar and its tick labels. */
  function updateLegend() {
    const { alpha, threshold, mode } = blendOptions();
    const { pixels, ticks: marks } = legendFor(mode, lut, COLORBAR_LENGTH, threshold, alpha);
    const ctx = colorbar.getContext("2d");
    if (ctx) {
      const img = ctx.createImageData(COLORBAR_LENGTH, 1);
      img.data.set(pixels);
      ctx.putImageData(img, 0, 0);
    }
    ticks.replaceChildren(
      ...marks.map(({ at, label }) => {
        const tick = h("span", "xw-tick", label);
        tick.classList.add(at <= 0 ? "xw-first" : at >= 1 ? "xw-last" : "xw-mid");
        tick.style.left = `${(at * 100).toFixed(2)}%`;
        return tick;
      }),
    );
    legend.dataset.mode = mode;
  }

  function applyNote() {
    note.textContent = String(model.get("note") ?? "");
    note.hidden = note.textContent === "";
  }

  function applyLayout() {
    const t = String(model.get("title") ?? "");
    title.replaceChildren(
      ...t
        .split(TITLE_SEPARATOR)
        .flatMap((phrase, i) => [
          ...(i > 0 ? [document.createTextNode(TITLE_SEPARATOR)] : []),
          h("span", "xw-phrase", phrase),
        ]),
    );
    title.title = t;
    title.hidden = t === "";
    const dw = Math.floor(num(model.get("display_width"), 0));
    canvas.style.width = dw > 0 ? `${dw}px` : "";
    inner.style.width = dw > 0 ? `${Math.max(dw + 2, 240)}px` : "";
    canvas.style.imageRendering = model.get("pixelated") ? "pixelated" : "auto";
  }

  // ---- controls ------------------------------------------------------------
  /** @type {Record<string, (() => void)>} */
  let syncControl = {};

  /**
   * @param {string} name
   * @param {string} labelText
   * @param {HTMLInputElement | HTMLSelectElement} input
   * @param {HTMLSpanElement} readout
   */
  function addRow(name, labelText, input, readout) {
    const label = h("label", "xw-label", labelText);
    input.id = `${uid}-${name}`;
    label.htmlFor = input.id;
    controls.append(label, input, readout);
  }

  /**
   * @param {"alpha" | "threshold"} name
   * @param {string} labelText
   */
  function addSlider(name, labelText) {
    const input = h("input", `xw-${name}`);
    input.type = "range";
    input.min = "0";
    input.max = "1";
    input.step = "0.01";
    const readout = h("span", "xw-readout");
    const sync = () => {
      const v = num(model.get(name), 0);
      if (Number(input.value) !== v) input.value = String(v);
      readout.textContent = v.toFixed(2);
      if (name === "alpha") input.disabled = MODES_WITHOUT_ALPHA.includes(String(model.get("mode")));
    };
    sync();
    listen(
      input,
      "input",
      () => {
        const v = Number(input.value);
        readout.textContent = v.toFixed(2);
        model.set(name, v);
        model.save_changes();
      },
      controlDisposers,
    );
    syncControl[name] = sync;
    addRow(name, labelText, input, readout);
  }

  /**
   * @param {"colormap" | "mode"} name
   * @param {string} labelText
   * @param {ReadonlyArray<readonly [string, string]>} options value/label pairs
   */
  function addSelect(name, labelText, options) {
    const select = h("select", `xw-${name}`);
    for (const [value, text] of options) {
      const opt = h("option", undefined, text);
      opt.value = value;
      select.append(opt);
    }
    const readout = h("span", "xw-readout");
    const sync = () => {
      const v = String(model.get(name));
      if (select.value !== v) select.value = v;
    };
    sync();
    listen(
      select,
      "change",
      () => {
        model.set(name, select.value);
        model.save_changes();
      },
      controlDisposers,
    );
    syncControl[name] = sync;
    addRow(name, labelText, select, readout);
  }

  function showLegend() {
    legend.hidden = model.get("show_legend") === false || !heatFits();
  }

  function buildControls() {
    for (const dispose of controlDisposers) dispose();
    controlDisposers = [];
    syncControl = {};
    controls.replaceChildren();
    const show = Boolean(model.get("show_controls"));
    controls.hidden = !show;
    if (!show) return;
    addSlider("alpha", "alpha");
    addSlider("threshold", "threshold");
    addSelect(
      "colormap",
      "colormap",
      COLORMAP_NAMES.map((n) => /** @type {const} */ ([n, n])),
    );
    addSelect("mode", "mode", MODES);
  }

  // ---- events --------------------------------------------------------------
  /** @param {MouseEvent} ev */
  function pixelAt(ev) {
    const r = canvas.getBoundingClientRect();
    // The bounding rect includes the (symmetric) CSS border; map over the content box.
    const bx = canvas.clientLeft || 0;
    const by = canvas.clientTop || 0;
    const rect = {
      left: r.left + bx,
      top: r.top + by,
      width: r.width - 2 * bx,
      height: r.height - 2 * by,
    };
    return imagePixelFromClient(
      ev.clientX,
      ev.clientY,
      rect,
      canvas.width,
      canvas.height,
    );
  }

  listen(canvas, "mousemove", (/** @type {MouseEvent} */ ev) => {
    const p = pixelAt(ev);
    if (!p) {
      setStatus(baseStatus);
      return;
    }
    let text = `x=${p.x}, y=${p.y}`;
    if (heat && heatFits()) {
      text += `, value=${heat[p.y * canvas.width + p.x].toFixed(3)}`;
    }
    setStatus(text);
  });
  listen(canvas, "mouseleave", () => setStatus(baseStatus));
  listen(canvas, "click", (/** @type {MouseEvent} */ ev) => {
    const p = pixelAt(ev);
    if (p) model.send({ event: "click", x: p.x, y: p.y });
  });

  /** @param {"alpha" | "threshold" | "mode" | "colormap"} name */
  const syncAndDraw = (name) => () => {
    syncControl[name]?.();
    scheduleDraw();
  };
  onModel("change:alpha", syncAndDraw("alpha"));
  onModel("change:threshold", syncAndDraw("threshold"));
  onModel("change:mode", () => {
    syncControl.alpha?.();
    syncAndDraw("mode")();
  });
  onModel("change:colormap", () => {
    lut = colormapLUT(String(model.get("colormap")));
    syncAndDraw("colormap")();
  });
  onModel("change:heatmap", () => {
    loadHeat();
    scheduleDraw();
  });
  onModel("change:image", () => void loadImage());
  onModel("change:width", scheduleDraw);
  onModel("change:height", scheduleDraw);
  onModel("change:title", applyLayout);
  onModel("change:note", applyNote);
  onModel("change:display_width", applyLayout);
  onModel("change:pixelated", applyLayout);
  onModel("change:show_controls", buildControls);
  onModel("change:show_legend", showLegend);
  onModel("msg:custom", (/** @type {any} */ msg) => {
    // Optional status text from Python: widget.send({"event": "status", "text": "..."}).
    if (msg && (msg.event === "status" || msg.type === "status")) {
      pyStatus = String(msg.text ?? "");
      refreshStatus();
    }
  });

  // ---- first draw ------------------------------------------------------------
  applyLayout();
  applyNote();
  buildControls();
  showLegend();
  updateLegend();
  loadHeat();
  void loadImage();

  return () => {
    disposed = true;
    for (const dispose of controlDisposers) dispose();
    controlDisposers = [];
    for (const dispose of disposers) dispose();
    disposers.length = 0;
  };
}

export default { render };
