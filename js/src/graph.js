// anywidget view: a node-link DAG whose nodes are image thumbnails (SVG).
// Rows by level, smooth arrows from the bottom of a source to the top of a
// target, click to select (synced `selected`) and see the node enlarged,
// hover to set `hovered` and see the node's detail. The drawing keeps its
// size (thumbnails and text never shrink): a graph wider or taller than its
// box scrolls inside it. The view knows nothing about what the graph means.
// Geometry lives in lib/graph_layout.js.

import { asDataView, bytesFromDataView } from "./lib/binary.js";
import {
  CHAR_WIDTH,
  arrowLengthFor,
  edgeGeometry,
  edgeLabelWidth,
  fitLabel,
  layoutGraph,
  nodeArea,
  placeEdgeLabels,
} from "./lib/graph_layout.js";

/**
 * One node as synced from Python.
 *
 * @typedef {object} GraphNode
 * @property {string} id unique id.
 * @property {DataView} image PNG bytes of the thumbnail (byteLength 0: no image).
 * @property {number} width image width in pixels.
 * @property {number} height image height in pixels.
 * @property {string} label text under the thumbnail.
 * @property {number} level row, integer >= 0, 0 at the top.
 * @property {number} order position within the row, ascending.
 * @property {string} colour CSS colour of the frame.
 * @property {string} detail hover tooltip and text under the enlarged image.
 */

/**
 * One edge as synced from Python.
 *
 * @typedef {object} GraphEdge
 * @property {string} source id of the node the edge leaves.
 * @property {string} target id of the node the edge enters.
 * @property {string} colour CSS colour of the line and arrowhead.
 * @property {number} width line width in CSS px (> 0).
 * @property {string} label text at the midpoint ("" for none).
 */

/**
 * Synced traits (defined on the Python side).
 *
 * @typedef {object} GraphTraits
 * @property {GraphNode[]} nodes
 * @property {GraphEdge[]} edges
 * @property {string} title text above the graph (hidden when empty).
 * @property {number} thumbnail_size side of a node's thumbnail box in CSS px.
 * @property {number} enlarged_size width of the enlarged image in CSS px.
 * @property {number | null} display_width CSS width of the graph's box (null: the drawing's width, at most the
 *   output's); a wider drawing scrolls inside it, a narrower one is centred.
 * @property {number | null} display_height the box's greatest CSS height (null: unbounded); a taller drawing
 *   scrolls inside it.
 * @property {string} selected id of the selected node, "" for none (set on click).
 * @property {string} hovered id of the node under the mouse, "" for none (set on hover).
 */

/** @typedef {import("@anywidget/types").AnyModel<GraphTraits>} GraphModel */

/**
 * What the view keeps per drawn node.
 *
 * @typedef {object} DrawnNode
 * @property {GraphNode} node
 * @property {SVGGElement} group the node's <g>.
 * @property {SVGRectElement} frame
 * @property {string} url object URL of the PNG ("" when there is no image).
 */

const SVG_NS = "http://www.w3.org/2000/svg";
const DEFAULT_NODE_COLOUR = "#8c959f";
const DEFAULT_EDGE_COLOUR = "#6e7781";
const FRAME_WIDTH = 2;
const SELECTED_FRAME_WIDTH = 4;

const CSS = `
.xw-graph{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;font-size:12px;line-height:1.4;color:#24292f;background:#fff;display:block;max-width:100%;box-sizing:border-box;padding:8px}
.xw-graph [hidden]{display:none!important}
.xw-graph .xw-graph-title{font-size:14px;font-weight:600;margin:0 0 6px}
.xw-graph .xw-graph-body{display:flex;flex-wrap:wrap;align-items:flex-start;gap:16px}
.xw-graph .xw-graph-scroll{flex:0 1 auto;min-width:0;max-width:100%;box-sizing:border-box;overflow:auto;border:1px solid #d0d7de;border-radius:4px;background:linear-gradient(to right,#fff 30%,#fff0) left/32px 100% no-repeat local,linear-gradient(to left,#fff 30%,#fff0) right/32px 100% no-repeat local,linear-gradient(#fff 30%,#fff0) top/100% 32px no-repeat local,linear-gradient(to top,#fff 30%,#fff0) bottom/100% 32px no-repeat local,radial-gradient(farthest-side at 0 50%,#0003,#0000) left/12px 100% no-repeat scroll,radial-gradient(farthest-side at 100% 50%,#0003,#0000) right/12px 100% no-repeat scroll,radial-gradient(farthest-side at 50% 0,#0003,#0000) top/100% 12px no-repeat scroll,radial-gradient(farthest-side at 50% 100%,#0003,#0000) bottom/100% 12px no-repeat scroll,#fff}
.xw-graph .xw-graph-svg{display:block;max-width:none}
.xw-graph .xw-graph-node{cursor:pointer;outline:none}
.xw-graph .xw-graph-node:hover .xw-graph-frame{stroke-opacity:.7}
.xw-graph .xw-graph-node:focus-visible .xw-graph-frame{stroke-dasharray:5 3}
.xw-graph .xw-graph-label{font-size:12px;fill:#333}
.xw-graph .xw-graph-selected .xw-graph-label{font-weight:600;fill:#111}
.xw-graph .xw-graph-edge{fill:none;stroke-linecap:round}
.xw-graph .xw-graph-edge-label{font-size:12px;fill:#24292f;paint-order:stroke;stroke:#fff;stroke-width:4px;stroke-linejoin:round}
.xw-graph .xw-graph-enlarged{border:1px solid #d0d7de;border-radius:4px;padding:8px;background:#fff}
.xw-graph .xw-graph-enlarged-head{display:flex;justify-content:space-between;align-items:center;gap:8px;margin-bottom:6px;font-size:13px;font-weight:600}
.xw-graph .xw-graph-close{font:inherit;font-size:14px;line-height:1;border:1px solid #d0d7de;border-radius:4px;background:#f6f8fa;color:#24292f;cursor:pointer;padding:2px 7px}
.xw-graph .xw-graph-enlarged-image{display:block;height:auto;border:1px solid #d0d7de}
.xw-graph .xw-graph-enlarged-detail{margin-top:6px;color:#444;white-space:pre-wrap;overflow-wrap:anywhere}
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
 * @param {unknown} v a size trait.
 * @returns {number | null} v when it is a positive number, else null.
 */
function sizeOrNull(v) {
  const n = Number(v);
  return v !== null && v !== undefined && Number.isFinite(n) && n > 0 ? n : null;
}

/**
 * @param {number} v
 * @returns {number} v rounded to 2 decimals.
 */
function r2(v) {
  return Math.round(v * 100) / 100;
}

/** @type {import("@anywidget/types").Render<GraphTraits>} */
function render({ model, el }) {
  /** @type {Array<() => void>} */
  const disposers = [];
  let disposed = false;
  let drawScheduled = false;
  let draws = 0;
  let userScrolled = false;
  let autoScrollLeft = 0;
  let drawnWidth = 0;
  /** @type {Map<string, DrawnNode>} */
  let drawn = new Map();

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
  const root = h("div", "xw-graph");
  root.dataset.ready = "false";
  root.dataset.nodes = "0";
  root.dataset.edges = "0";
  root.dataset.selected = "";
  root.dataset.draws = "0";
  const style = h("style");
  style.textContent = CSS;
  const title = h("div", "xw-graph-title");
  const body = h("div", "xw-graph-body");
  const scroller = h("div", "xw-graph-scroll");
  const svg = s("svg", { class: "xw-graph-svg", role: "group" });
  const edgeLayer = s("g", { class: "xw-graph-edges" });
  const nodeLayer = s("g", { class: "xw-graph-nodes" });
  svg.append(edgeLayer, nodeLayer);

  const panel = h("div", "xw-graph-enlarged");
  panel.hidden = true;
  const head = h("div", "xw-graph-enlarged-head");
  const panelLabel = h("span", "xw-graph-enlarged-label");
  const close = h("button", "xw-graph-close", "×");
  close.type = "button";
  close.title = "close";
  close.setAttribute("aria-label", "close the enlarged node");
  head.append(panelLabel, close);
  const panelImage = h("img", "xw-graph-enlarged-image");
  panelImage.alt = "";
  const panelDetail = h("div", "xw-graph-enlarged-detail");
  panel.append(head, panelImage, panelDetail);

  scroller.append(svg);
  body.append(scroller, panel);
  root.append(style, title, body);
  el.append(root);

  // ---- drawing -----------------------------------------------------------
  function revokeUrls() {
    for (const { url } of drawn.values()) {
      if (url) URL.revokeObjectURL(url);
    }
    drawn = new Map();
  }

  /** @returns {GraphNode[]} */
  function nodesOf() {
    const nodes = model.get("nodes");
    return Array.isArray(nodes) ? nodes : [];
  }

  /** @returns {GraphEdge[]} */
  function edgesOf() {
    const edges = model.get("edges");
    return Array.isArray(edges) ? edges : [];
  }

  function draw() {
    revokeUrls();
    edgeLayer.replaceChildren();
    nodeLayer.replaceChildren();
    const nodes = nodesOf();
    const edges = edgesOf();
    const size = num(model.get("thumbnail_size"), 72);
    const boxWidth = sizeOrNull(model.get("display_width"));
    const layout = layoutGraph(
      nodes.map((n) => ({
        id: str(n.id),
        level: num(n.level, 0),
        order: num(n.order, 0),
        width: num(n.width, 0),
        height: num(n.height, 0),
      })),
      edges.map((e) => ({ source: str(e.source), target: str(e.target) })),
      { thumbnail: size, minWidth: boxWidth },
    );
    svg.setAttribute("viewBox", `0 0 ${r2(layout.width)} ${r2(layout.height)}`);
    svg.setAttribute("width", String(r2(layout.width)));
    svg.setAttribute("height", String(r2(layout.height)));
    sizeBox(boxWidth, sizeOrNull(model.get("display_height")));

    // edges first, so nodes are drawn over them; labels over every line, placed clear of each other
    /** @type {Array<{text: string, curve: import("./lib/graph_layout.js").Point[], ends: Record<string, string>}>} */
    const edgeLabels = [];
    let edgeCount = 0;
    for (const edge of edges) {
      const source = layout.nodes.get(str(edge.source));
      const target = layout.nodes.get(str(edge.target));
      if (!source || !target || source === target) continue;
      const width = num(edge.width, 2) > 0 ? num(edge.width, 2) : 2;
      const colour = str(edge.colour) || DEFAULT_EDGE_COLOUR;
      const geo = edgeGeometry(source, target, arrowLengthFor(width), layout.arc);
      const ends = { "data-source": source.id, "data-target": target.id };
      edgeLayer.append(
        s("path", {
          class: "xw-graph-edge",
          d: geo.d,
          stroke: colour,
          "stroke-width": width,
          ...ends,
        }),
        s("polygon", { class: "xw-graph-arrow", points: geo.arrow, fill: colour, ...ends }),
      );
      const text = str(edge.label);
      if (text) edgeLabels.push({ text, curve: geo.curve, ends });
      edgeCount += 1;
    }
    drawEdgeLabels(edgeLabels, [...layout.nodes.values()].map(nodeArea));

    const labelWidth = size + layout.gapX - 4;
    for (const node of nodes) {
      const box = layout.nodes.get(str(node.id));
      if (!box) continue;
      const bytes = asDataView(node.image);
      const url =
        bytes.byteLength > 0
          ? URL.createObjectURL(new Blob([bytesFromDataView(bytes)], { type: "image/png" }))
          : "";
      const { frame } = box;
      const group = s("g", {
        class: "xw-graph-node",
        "data-id": box.id,
        "data-level": box.level,
        tabindex: 0,
        role: "button",
        "aria-pressed": "false",
      });
      const tip = s("title");
      tip.textContent = str(node.detail) || str(node.label) || box.id;
      const image = s("image", {
        class: "xw-graph-thumb",
        x: r2(frame.x),
        y: r2(frame.y),
        width: r2(frame.width),
        height: r2(frame.height),
        preserveAspectRatio: "xMidYMid meet",
      });
      if (url) image.setAttribute("href", url);
      const pixels = num(node.width, 0);
      if (pixels > 0 && frame.width > 2 * pixels) {
        image.setAttribute("style", "image-rendering:pixelated");
      }
      const rect = s("rect", {
        class: "xw-graph-frame",
        x: r2(frame.x),
        y: r2(frame.y),
        width: r2(frame.width),
        height: r2(frame.height),
        fill: "none",
        stroke: str(node.colour) || DEFAULT_NODE_COLOUR,
        "stroke-width": FRAME_WIDTH,
      });
      const label = s("text", {
        class: "xw-graph-label",
        x: r2(box.x),
        y: r2(box.labelY),
        "text-anchor": "middle",
      });
      label.textContent = fitLabel(str(node.label), labelWidth, CHAR_WIDTH);
      group.append(tip, image, rect, label);
      nodeLayer.append(group);
      drawn.set(box.id, { node, group, frame: rect, url });
    }

    applySelection();
    scroller.hidden = drawn.size === 0; // no empty frame while a graph is on its way
    centreOnce(layout.width);
    draws += 1;
    root.dataset.nodes = String(drawn.size);
    root.dataset.edges = String(edgeCount);
    root.dataset.draws = String(draws);
    root.dataset.ready = "true";
  }

  /**
   * @param {Array<{text: string, curve: import("./lib/graph_layout.js").Point[], ends: Record<string, string>}>} labels
   * @param {import("./lib/graph_layout.js").Rect[]} obstacles
   */
  function drawEdgeLabels(labels, obstacles) {
    const boxes = placeEdgeLabels(
      labels.map(({ text, curve }) => ({ curve, width: edgeLabelWidth(text) })),
      obstacles,
    );
    labels.forEach(({ text, ends }, i) => {
      const box = boxes[i];
      const label = s("text", {
        class: "xw-graph-edge-label",
        x: r2(box.x + box.width / 2),
        y: r2(box.y + box.height / 2 + 4),
        "text-anchor": "middle",
        ...ends,
      });
      label.textContent = text;
      edgeLayer.append(label);
    });
  }

  /**
   * Size the scrolling box: `width` wide (null: the drawing's width), at most `height` tall (null: unbounded);
   * never wider than the output (max-width: 100%).
   *
   * @param {number | null} width
   * @param {number | null} height
   */
  function sizeBox(width, height) {
    scroller.style.width = width === null ? "" : `${width}px`;
    scroller.style.maxHeight = height === null ? "" : `${height}px`;
  }

  /**
   * Scroll a drawing wider than its box to its centre (where the rows are centred), until the user scrolls.
   *
   * @param {number} width the drawing's width.
   */
  function centreOnce(width) {
    drawnWidth = width;
    if (userScrolled || scroller.clientWidth === 0) return;
    scroller.scrollLeft = Math.max(0, Math.round((width - scroller.clientWidth) / 2));
    autoScrollLeft = scroller.scrollLeft;
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
    const id = str(model.get("selected"));
    for (const [key, { group, frame }] of drawn) {
      const on = key === id;
      group.classList.toggle("xw-graph-selected", on);
      group.setAttribute("aria-pressed", String(on));
      frame.setAttribute("stroke-width", String(on ? SELECTED_FRAME_WIDTH : FRAME_WIDTH));
    }
    root.dataset.selected = id;
    const chosen = drawn.get(id);
    if (!chosen) {
      panel.hidden = true;
      panelImage.removeAttribute("src");
      panelLabel.textContent = "";
      panelDetail.textContent = "";
      return;
    }
    const { node, url } = chosen;
    const width = num(model.get("enlarged_size"), 224);
    if (url) panelImage.src = url;
    else panelImage.removeAttribute("src");
    panelImage.style.width = `${width}px`;
    const pixels = num(node.width, 0);
    panelImage.style.imageRendering = pixels > 0 && width > 2 * pixels ? "pixelated" : "auto";
    panelImage.alt = str(node.label) || chosen.group.getAttribute("data-id") || "";
    panelLabel.textContent = str(node.label) || id;
    panelDetail.textContent = str(node.detail);
    panelDetail.hidden = panelDetail.textContent === "";
    panelDetail.style.maxWidth = `${width}px`;
    panel.hidden = false;
  }

  function applyTitle() {
    const t = str(model.get("title"));
    title.textContent = t;
    title.hidden = t === "";
  }

  // ---- events --------------------------------------------------------------
  /**
   * @param {EventTarget | null} target
   * @returns {string | null} the id of the node the target belongs to, or null.
   */
  function nodeIdAt(target) {
    if (!(target instanceof Element)) return null;
    const group = target.closest(".xw-graph-node");
    if (!group || !nodeLayer.contains(group)) return null;
    return group.getAttribute("data-id");
  }

  /** @param {string} id a node id, or "" to clear. */
  function choose(id) {
    model.set("selected", id);
    model.save_changes();
  }

  /** @param {string} id click on this node: select it, or clear it when it is already selected. */
  function toggle(id) {
    choose(str(model.get("selected")) === id ? "" : id);
  }

  /** @param {string} id */
  function hover(id) {
    if (str(model.get("hovered")) === id) return;
    model.set("hovered", id);
    model.save_changes();
  }

  listen(svg, "click", (/** @type {MouseEvent} */ ev) => {
    const id = nodeIdAt(ev.target);
    if (id !== null) toggle(id);
  });
  listen(svg, "keydown", (/** @type {KeyboardEvent} */ ev) => {
    if (ev.key !== "Enter" && ev.key !== " ") return;
    const id = nodeIdAt(ev.target);
    if (id === null) return;
    ev.preventDefault();
    toggle(id);
  });
  listen(svg, "mouseover", (/** @type {MouseEvent} */ ev) => {
    const id = nodeIdAt(ev.target);
    if (id !== null) hover(id);
  });
  listen(svg, "mouseout", (/** @type {MouseEvent} */ ev) => {
    const from = nodeIdAt(ev.target);
    if (from !== null && nodeIdAt(ev.relatedTarget) !== from) hover("");
  });
  listen(close, "click", () => choose(""));
  listen(scroller, "scroll", () => {
    if (Math.abs(scroller.scrollLeft - autoScrollLeft) > 1) userScrolled = true;
  });
  if (typeof ResizeObserver !== "undefined") {
    // the first draw may come before the view is in the page (no size yet): centre once it has one
    const resized = new ResizeObserver(() => centreOnce(drawnWidth));
    resized.observe(scroller);
    disposers.push(() => resized.disconnect());
  }

  onModel("change:nodes", scheduleDraw);
  onModel("change:edges", scheduleDraw);
  onModel("change:thumbnail_size", scheduleDraw);
  onModel("change:display_width", scheduleDraw);
  onModel("change:display_height", scheduleDraw);
  onModel("change:selected", applySelection);
  onModel("change:enlarged_size", applySelection);
  onModel("change:title", applyTitle);

  // ---- first draw ------------------------------------------------------------
  applyTitle();
  draw();

  return () => {
    disposed = true;
    for (const dispose of disposers) dispose();
    disposers.length = 0;
    revokeUrls();
    panelImage.removeAttribute("src");
  };
}

export default { render };
