// anywidget view: groups of image thumbnails, one group per row. A header click
// selects a group (synced `selected_group`, `selected_item` = ""); a thumbnail
// click selects the item and its group. Rectangles given in image pixels are
// outlined over each thumbnail, scaled with it, in a thick stroke over a
// contrasting halo. Titles, details and captions wrap between their
// "·"-separated phrases (never inside one, unless a phrase alone is wider than
// its box) and are never cut. The view knows nothing about what a group means.
// Geometry lives in lib/thumbnail_fit.js, phrase splitting in lib/phrases.js.

import { asDataView, bytesFromDataView } from "./lib/binary.js";
import { PHRASE_SEPARATOR, splitPhrases } from "./lib/phrases.js";
import { boxOnFit, fitContain, haloColour, insetForStroke } from "./lib/thumbnail_fit.js";

/**
 * One rectangle outlined over an item's thumbnail, as synced from Python.
 *
 * @typedef {object} GalleryBox
 * @property {number} x0 left edge in image pixels.
 * @property {number} y0 top edge in image pixels.
 * @property {number} x1 right edge in image pixels (> x0).
 * @property {number} y1 bottom edge in image pixels (> y0).
 * @property {string} colour CSS colour of the outline.
 */

/**
 * One item (a thumbnail) as synced from Python.
 *
 * @typedef {object} GalleryItem
 * @property {string} id unique across the gallery.
 * @property {DataView} image PNG bytes (byteLength 0: no image).
 * @property {number} width image width in pixels.
 * @property {number} height image height in pixels.
 * @property {string} caption text under the thumbnail.
 * @property {string} detail hover tooltip.
 * @property {GalleryBox[]} boxes rectangles outlined over the thumbnail.
 */

/**
 * One group (a row) as synced from Python.
 *
 * @typedef {object} GalleryGroup
 * @property {string} id unique among the groups.
 * @property {string} title bold header text.
 * @property {string} detail smaller second header line, also the header tooltip.
 * @property {string} colour CSS colour of the swatch and the left border.
 * @property {GalleryItem[]} items
 */

/**
 * Synced traits (defined on the Python side).
 *
 * @typedef {object} GalleryTraits
 * @property {GalleryGroup[]} groups
 * @property {string} title text above the gallery (hidden when empty).
 * @property {number} thumbnail_size side of an item's square thumbnail box in CSS px.
 * @property {boolean} wrap items wrap onto several lines instead of one scrolling row.
 * @property {string} selected_group id of the selected group, "" for none (set on click).
 * @property {string} selected_item id of the selected item, "" for none (set on click).
 */

/** @typedef {import("@anywidget/types").AnyModel<GalleryTraits>} GalleryModel */

/**
 * What the view keeps per drawn group and item.
 *
 * @typedef {object} Drawn
 * @property {Map<string, HTMLDivElement>} groups group id -> the group's row.
 * @property {Map<string, HTMLDivElement>} items item id -> the item's element.
 * @property {Map<string, string>} owners item id -> the id of its group.
 * @property {string[]} urls object URLs of the PNGs.
 */

const SVG_NS = "http://www.w3.org/2000/svg";
const DEFAULT_GROUP_COLOUR = "#8c959f";
const DEFAULT_BOX_COLOUR = "#ffcc00";
/** Width of a box's coloured outline, in CSS px. */
const BOX_STROKE = 3;
/** Width of the contrasting halo drawn under it (it shows 1.5 px each side). */
const HALO_STROKE = 6;

const CSS = `
.xw-gallery{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;font-size:12px;line-height:1.4;color:#24292f;background:#fff;display:block;max-width:100%;box-sizing:border-box;padding:8px}
.xw-gallery [hidden]{display:none!important}
.xw-gallery .xw-gallery-title{font-size:14px;font-weight:600;margin:0 0 6px}
.xw-gallery .xw-gallery-groups{display:flex;flex-direction:column;gap:8px}
.xw-gallery .xw-gallery-group{min-width:0;border:1px solid #d0d7de;border-left-width:4px;border-radius:4px;padding:6px 8px;background:#fff}
.xw-gallery .xw-gallery-group-selected{background:#f6f8fa;box-shadow:0 0 0 2px #0969da}
.xw-gallery .xw-gallery-header{display:flex;align-items:center;gap:6px;margin-bottom:4px;cursor:pointer;outline:none}
.xw-gallery .xw-gallery-header:hover .xw-gallery-group-title{text-decoration:underline}
.xw-gallery .xw-gallery-header:focus-visible{outline:2px dashed #0969da;outline-offset:2px}
.xw-gallery .xw-gallery-swatch{flex:none;width:10px;height:10px;border-radius:2px}
.xw-gallery .xw-gallery-heading{min-width:0}
.xw-gallery .xw-gallery-group-title{font-size:13px;font-weight:600}
.xw-gallery .xw-gallery-group-detail{font-size:11px;color:#57606a}
.xw-gallery .xw-phrase{display:inline-block;max-width:100%;overflow-wrap:break-word}
.xw-gallery .xw-gallery-items{display:flex;gap:6px;overflow-x:auto;padding:3px}
.xw-gallery.xw-gallery-wrapped .xw-gallery-items{flex-wrap:wrap;overflow-x:visible}
.xw-gallery .xw-gallery-item{flex:none;display:flex;flex-direction:column;align-items:center;cursor:pointer;outline:none}
.xw-gallery .xw-gallery-thumb{position:relative;overflow:hidden;background:#f6f8fa;border:1px solid #d0d7de;border-radius:3px}
.xw-gallery .xw-gallery-item:hover .xw-gallery-thumb{border-color:#8c959f}
.xw-gallery .xw-gallery-item:focus-visible .xw-gallery-thumb{outline:2px dashed #0969da;outline-offset:1px}
.xw-gallery .xw-gallery-item-selected .xw-gallery-thumb,.xw-gallery .xw-gallery-item-selected:focus-visible .xw-gallery-thumb{outline:3px solid #0969da;outline-offset:1px}
.xw-gallery .xw-gallery-image{position:absolute;display:block;max-width:none;object-fit:contain}
.xw-gallery .xw-gallery-boxes{position:absolute;left:0;top:0;overflow:visible;pointer-events:none}
.xw-gallery .xw-gallery-box,.xw-gallery .xw-gallery-box-halo{fill:none;shape-rendering:crispEdges}
.xw-gallery .xw-gallery-caption{margin-top:2px;font-size:11px;line-height:1.3;color:#57606a;text-align:center;overflow-wrap:break-word}
.xw-gallery .xw-gallery-item-selected .xw-gallery-caption{color:#24292f;font-weight:600}
.xw-gallery .xw-gallery-empty{font-size:11px;font-style:italic;color:#8c959f;padding:2px 0}
`;

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
 * @template {keyof SVGElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, string | number>} [attrs]
 * @returns {SVGElementTagNameMap[K]}
 */
function s(tag, attrs = {}) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) {
    node.setAttribute(name, String(value));
  }
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
 * @param {number} v
 * @returns {number} v rounded to 2 decimals.
 */
function r2(v) {
  return Math.round(v * 100) / 100;
}

/**
 * @template T
 * @param {unknown} v
 * @returns {T[]} v when it is an array, else [].
 */
function list(v) {
  return Array.isArray(v) ? v : [];
}

/**
 * Fill a node with a line of "·"-separated phrases: each phrase in its own
 * span.xw-phrase (an inline block: the line breaks between phrases), with the
 * separators between them, so that textContent is the text itself.
 *
 * @param {HTMLElement} node the element to fill (its children are replaced).
 * @param {string} text the line.
 */
function setPhrases(node, text) {
  const parts = splitPhrases(text);
  node.replaceChildren();
  parts.forEach((phrase, i) => {
    if (i > 0) node.append(PHRASE_SEPARATOR);
    node.append(h("span", "xw-phrase", phrase));
  });
}

/**
 * @param {string} className
 * @param {string} text a line of "·"-separated phrases.
 * @returns {HTMLDivElement} a div showing the line (see setPhrases).
 */
function phraseLine(className, text) {
  const node = h("div", className);
  setPhrases(node, text);
  return node;
}

/** @type {import("@anywidget/types").Render<GalleryTraits>} */
function render({ model, el }) {
  /** @type {Array<() => void>} */
  const disposers = [];
  let disposed = false;
  let drawScheduled = false;
  let draws = 0;
  /** @type {Drawn} */
  let drawn = { groups: new Map(), items: new Map(), owners: new Map(), urls: [] };

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

  // ---- DOM -------------------------------------------------------------
  const root = h("div", "xw-gallery");
  root.dataset.ready = "false";
  root.dataset.groups = "0";
  root.dataset.items = "0";
  root.dataset.selectedGroup = "";
  root.dataset.selectedItem = "";
  root.dataset.draws = "0";
  const style = h("style");
  style.textContent = CSS;
  const title = h("div", "xw-gallery-title");
  const rows = h("div", "xw-gallery-groups");
  root.append(style, title, rows);
  el.append(root);

  // ---- drawing -----------------------------------------------------------
  function revokeUrls() {
    for (const url of drawn.urls) URL.revokeObjectURL(url);
    drawn = { groups: new Map(), items: new Map(), owners: new Map(), urls: [] };
  }

  /**
   * @param {GalleryGroup} group
   * @returns {HTMLDivElement} the header: swatch, title and detail (hidden when both texts are empty).
   */
  function drawHeader(group) {
    const colour = str(group.colour) || DEFAULT_GROUP_COLOUR;
    const header = h("div", "xw-gallery-header");
    header.setAttribute("data-group-id", str(group.id));
    header.tabIndex = 0;
    header.setAttribute("role", "button");
    header.setAttribute("aria-pressed", "false");
    const swatch = h("span", "xw-gallery-swatch");
    swatch.style.background = colour;
    const heading = h("div", "xw-gallery-heading");
    const text = str(group.title);
    const detail = str(group.detail);
    const titleLine = phraseLine("xw-gallery-group-title", text);
    titleLine.hidden = text === "";
    const detailLine = phraseLine("xw-gallery-group-detail", detail);
    detailLine.hidden = detail === "";
    heading.append(titleLine, detailLine);
    header.append(swatch, heading);
    header.title = detail || text;
    header.hidden = text === "" && detail === "";
    return header;
  }

  /**
   * @param {GalleryItem} item
   * @param {number} size side of the thumbnail box in CSS px.
   * @returns {HTMLDivElement} the item: thumbnail box with image and boxes, then the caption.
   */
  function drawItem(item, size) {
    const id = str(item.id);
    const node = h("div", "xw-gallery-item");
    node.setAttribute("data-item-id", id);
    node.tabIndex = 0;
    node.setAttribute("role", "button");
    node.setAttribute("aria-pressed", "false");
    const caption = str(item.caption);
    node.title = str(item.detail) || caption;

    const thumb = h("div", "xw-gallery-thumb");
    thumb.style.width = `${size}px`;
    thumb.style.height = `${size}px`;
    const width = num(item.width, 0);
    const height = num(item.height, 0);
    const fit = fitContain(width, height, size);
    const image = h("img", "xw-gallery-image");
    image.alt = caption || id;
    image.draggable = false;
    image.style.left = `${r2(fit.x)}px`;
    image.style.top = `${r2(fit.y)}px`;
    image.style.width = `${r2(fit.width)}px`;
    image.style.height = `${r2(fit.height)}px`;
    image.style.imageRendering = fit.scale >= 2 ? "pixelated" : "auto";
    const bytes = asDataView(item.image);
    if (bytes.byteLength > 0) {
      const url = URL.createObjectURL(new Blob([bytesFromDataView(bytes)], { type: "image/png" }));
      drawn.urls.push(url);
      image.src = url;
    }
    thumb.append(image);

    const outlines = s("svg", {
      class: "xw-gallery-boxes",
      width: size,
      height: size,
      viewBox: `0 0 ${size} ${size}`,
      "aria-hidden": "true",
    });
    for (const box of list(item.boxes)) {
      const rect = boxOnFit(
        { x0: num(box.x0, NaN), y0: num(box.y0, NaN), x1: num(box.x1, NaN), y1: num(box.y1, NaN) },
        fit,
        width,
        height,
      );
      if (!rect) continue;
      const colour = str(box.colour) || DEFAULT_BOX_COLOUR;
      const inside = insetForStroke(rect, HALO_STROKE, size);
      const place = { x: r2(inside.x), y: r2(inside.y), width: r2(inside.width), height: r2(inside.height) };
      outlines.append(
        s("rect", { class: "xw-gallery-box-halo", ...place, stroke: haloColour(colour), "stroke-width": HALO_STROKE }),
        s("rect", { class: "xw-gallery-box", ...place, stroke: colour, "stroke-width": BOX_STROKE }),
      );
    }
    if (outlines.childElementCount > 0) thumb.append(outlines);

    const text = phraseLine("xw-gallery-caption", caption);
    text.style.maxWidth = `${size}px`;
    text.hidden = caption === "";
    node.append(thumb, text);
    return node;
  }

  function draw() {
    revokeUrls();
    rows.replaceChildren();
    const size = num(model.get("thumbnail_size"), 96);
    for (const group of list(model.get("groups"))) {
      const id = str(group.id);
      const row = h("div", "xw-gallery-group");
      row.style.borderLeftColor = str(group.colour) || DEFAULT_GROUP_COLOUR;
      const items = h("div", "xw-gallery-items");
      for (const item of list(group.items)) {
        const node = drawItem(item, size);
        items.append(node);
        drawn.items.set(str(item.id), node);
        drawn.owners.set(str(item.id), id);
      }
      if (items.childElementCount === 0) items.append(h("div", "xw-gallery-empty", "no items"));
      row.append(drawHeader(group), items);
      rows.append(row);
      drawn.groups.set(id, row);
    }

    applySelection();
    draws += 1;
    root.dataset.groups = String(drawn.groups.size);
    root.dataset.items = String(drawn.items.size);
    root.dataset.draws = String(draws);
    root.dataset.ready = "true";
  }

  function scheduleDraw() {
    root.dataset.ready = "false";
    if (drawScheduled) return;
    drawScheduled = true;
    queueMicrotask(() => {
      drawScheduled = false;
      if (!disposed) draw();
    });
  }

  function applySelection() {
    const group = str(model.get("selected_group"));
    const item = str(model.get("selected_item"));
    for (const [key, row] of drawn.groups) {
      const on = key === group;
      row.classList.toggle("xw-gallery-group-selected", on);
      row.querySelector(".xw-gallery-header")?.setAttribute("aria-pressed", String(on));
    }
    for (const [key, node] of drawn.items) {
      const on = key === item;
      node.classList.toggle("xw-gallery-item-selected", on);
      node.setAttribute("aria-pressed", String(on));
    }
    root.dataset.selectedGroup = group;
    root.dataset.selectedItem = item;
  }

  function applyTitle() {
    const t = str(model.get("title"));
    setPhrases(title, t);
    title.hidden = t === "";
  }

  function applyWrap() {
    const wrap = Boolean(model.get("wrap"));
    root.classList.toggle("xw-gallery-wrapped", wrap);
    root.dataset.wrap = String(wrap);
  }

  // ---- events --------------------------------------------------------------
  /**
   * @param {EventTarget | null} target
   * @returns {{group: string, item: string} | null} what a click on target selects, or null.
   */
  function selectionAt(target) {
    if (!(target instanceof Element)) return null;
    const node = target.closest("[data-item-id]");
    if (node && rows.contains(node)) {
      const item = node.getAttribute("data-item-id") ?? "";
      const group = drawn.owners.get(item);
      return group === undefined ? null : { group, item };
    }
    const header = target.closest(".xw-gallery-header");
    if (header && rows.contains(header)) {
      return { group: header.getAttribute("data-group-id") ?? "", item: "" };
    }
    return null;
  }

  /** @param {{group: string, item: string}} chosen the group (and item, "" for none) to select. */
  function choose({ group, item }) {
    model.set("selected_group", group);
    model.set("selected_item", item);
    model.save_changes();
  }

  listen(rows, "click", (/** @type {MouseEvent} */ ev) => {
    const chosen = selectionAt(ev.target);
    if (chosen) choose(chosen);
  });
  listen(rows, "keydown", (/** @type {KeyboardEvent} */ ev) => {
    if (ev.key !== "Enter" && ev.key !== " ") return;
    const chosen = selectionAt(ev.target);
    if (!chosen) return;
    ev.preventDefault();
    choose(chosen);
  });

  onModel("change:groups", scheduleDraw);
  onModel("change:thumbnail_size", scheduleDraw);
  onModel("change:selected_group", applySelection);
  onModel("change:selected_item", applySelection);
  onModel("change:title", applyTitle);
  onModel("change:wrap", applyWrap);

  // ---- first draw ------------------------------------------------------------
  applyTitle();
  applyWrap();
  draw();

  return () => {
    disposed = true;
    for (const dispose of disposers) dispose();
    disposers.length = 0;
    revokeUrls();
  };
}

export default { render };
