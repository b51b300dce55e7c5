// Pure geometry for the graph view (no DOM): where each node goes, the curve of
// each edge, its arrowhead, where its label goes, and label shortening. All
// lengths are CSS px: the drawing is never scaled down (a wide graph scrolls).

/** Space around the drawing. */
export const PADDING = 16;
/** Height reserved under each thumbnail box for its label (12px text). */
export const LABEL_HEIGHT = 20;
/** Average advance of one 12px sans-serif character, for label shortening and edge-label boxes. */
export const CHAR_WIDTH = 7;
/** Height of an edge label's box (12px text and its white halo). */
export const EDGE_LABEL_HEIGHT = 16;
/** Where along its edge a label may sit (curve parameter t), nearest the middle first. */
export const LABEL_POSITIONS = [0.5, 0.45, 0.55, 0.4, 0.6, 0.35, 0.65, 0.3, 0.7, 0.25, 0.75, 0.2, 0.8, 0.15, 0.85];
/** Longest arrowhead (see arrowLengthFor). */
export const ARROW_MAX = 20;

/**
 * @typedef {object} LayoutNode
 * @property {string} id unique id.
 * @property {number} level row, integer >= 0, 0 at the top (anything else is floored and clamped to >= 0).
 * @property {number} order position within the row, ascending; ties keep input order.
 * @property {number} [width] image width in pixels (> 0), to fit the frame to the image's aspect.
 * @property {number} [height] image height in pixels (> 0).
 */

/**
 * @typedef {object} LayoutEdge
 * @property {string} source id of the node the edge leaves.
 * @property {string} target id of the node the edge enters.
 */

/**
 * @typedef {object} Rect
 * @property {number} x left.
 * @property {number} y top.
 * @property {number} width
 * @property {number} height
 */

/**
 * @typedef {object} NodeBox
 * @property {string} id
 * @property {number} level the row (sanitised).
 * @property {number} column 0-based position within the row after sorting.
 * @property {number} x centre x of the square thumbnail box.
 * @property {number} y centre y of the square thumbnail box.
 * @property {number} size side of the thumbnail box.
 * @property {Rect} frame where the image is drawn: the largest rect with the image's aspect inside the box, centred.
 * @property {number} labelY baseline y of the label under the box.
 * @property {number} top y where edges arriving from above end (the frame's top).
 * @property {number} bottom y where edges leaving downwards start (under the label).
 */

/**
 * @typedef {object} GraphLayout
 * @property {Map<string, NodeBox>} nodes one box per node id.
 * @property {number} width drawing width in CSS px (the SVG's width and viewBox width).
 * @property {number} height drawing height in CSS px.
 * @property {number} gapX horizontal gap between boxes in a row.
 * @property {number} gapY vertical gap between a row's labels and the next row's boxes.
 * @property {number} arc height of the arcs joining two nodes of one row.
 */

/**
 * @typedef {object} LayoutOptions
 * @property {number} thumbnail side of the square thumbnail box (> 0).
 * @property {number | null} [minWidth] the least drawing width in CSS px: a narrower drawing is widened to it
 *   with each row centred; a wider one keeps its natural width (the view scrolls it, never shrinks it).
 *   null, undefined or <= 0: the natural width.
 */

/**
 * Gaps that scale with the thumbnail size so large thumbnails do not crowd. The vertical gap holds the
 * edges between two rows and three rows of edge labels.
 *
 * @param {number} thumbnail side of the thumbnail box.
 * @returns {{gapX: number, gapY: number, arc: number}} horizontal gap between boxes, vertical room for
 *   edges between rows, and the height of same-row arcs.
 */
export function spacing(thumbnail) {
  const gapX = Math.round(Math.max(16, thumbnail * 0.3));
  const gapY = Math.round(Math.max(3 * EDGE_LABEL_HEIGHT + ARROW_MAX, thumbnail * 0.8));
  return { gapX, gapY, arc: Math.round(gapY * 0.6) };
}

/**
 * The largest rect with the aspect ratio width:height inside a size x size square, centred on (cx, cy).
 *
 * @param {number} cx centre x.
 * @param {number} cy centre y.
 * @param {number} size side of the square.
 * @param {number | undefined} width image width (> 0); missing or invalid: a square.
 * @param {number | undefined} height image height (> 0); missing or invalid: a square.
 * @returns {Rect}
 */
export function fitRect(cx, cy, size, width, height) {
  let w = size;
  let h = size;
  if (width !== undefined && height !== undefined && width > 0 && height > 0) {
    const s = size / Math.max(width, height);
    w = width * s;
    h = height * s;
  }
  return { x: cx - w / 2, y: cy - h / 2, width: w, height: h };
}

/**
 * Place nodes in rows: row = level (0 at the top), sorted by order within a row (stable), each row
 * centred horizontally. Rows are `size + LABEL_HEIGHT + gapY` apart; levels with no nodes stay empty.
 *
 * @param {ReadonlyArray<LayoutNode>} nodes the nodes, in input order.
 * @param {ReadonlyArray<LayoutEdge>} edges used only to reserve room (arc + ARROW_MAX) above the top row when
 *   two of its nodes are joined (such edges are drawn as arcs over the row).
 * @param {LayoutOptions} options
 * @returns {GraphLayout}
 */
export function layoutGraph(nodes, edges, options) {
  const size = options.thumbnail > 0 ? options.thumbnail : 72;
  const { gapX, gapY, arc } = spacing(size);
  /** @type {Map<number, Array<{node: LayoutNode, index: number}>>} */
  const rows = new Map();
  nodes.forEach((node, index) => {
    const level = sanitiseLevel(node.level);
    const row = rows.get(level);
    if (row) row.push({ node, index });
    else rows.set(level, [{ node, index }]);
  });
  let widest = 0;
  let deepest = -1;
  for (const [level, row] of rows) {
    row.sort((a, b) => orderOf(a.node) - orderOf(b.node) || a.index - b.index);
    widest = Math.max(widest, row.length);
    deepest = Math.max(deepest, level);
  }
  const levelOf = new Map(nodes.map((n) => [n.id, sanitiseLevel(n.level)]));
  const topArc = edges.some(
    (e) => levelOf.get(e.source) === 0 && levelOf.get(e.target) === 0,
  );
  const top = PADDING + (topArc ? arc + ARROW_MAX : 0);
  const pitch = size + LABEL_HEIGHT + gapY;
  const natural = widest > 0 ? widest * size + (widest - 1) * gapX + 2 * PADDING : 2 * PADDING;
  const height = deepest >= 0 ? top + (deepest + 1) * pitch - gapY + PADDING : 2 * PADDING;
  const width = Math.max(natural, options.minWidth ?? 0);

  /** @type {Map<string, NodeBox>} */
  const boxes = new Map();
  for (const [level, row] of rows) {
    const rowWidth = row.length * size + (row.length - 1) * gapX;
    const left = (width - rowWidth) / 2;
    const y = top + level * pitch + size / 2;
    row.forEach(({ node }, column) => {
      const x = left + column * (size + gapX) + size / 2;
      const frame = fitRect(x, y, size, node.width, node.height);
      boxes.set(node.id, {
        id: node.id,
        level,
        column,
        x,
        y,
        size,
        frame,
        labelY: y + size / 2 + LABEL_HEIGHT - 6,
        top: frame.y,
        bottom: y + size / 2 + LABEL_HEIGHT,
      });
    });
  }
  return {
    nodes: boxes,
    width,
    height,
    gapX,
    gapY,
    arc,
  };
}

/**
 * @typedef {object} Point
 * @property {number} x
 * @property {number} y
 */

/**
 * @typedef {object} EdgeGeometry
 * @property {string} d SVG path data of one cubic Bézier ("M x y C x1 y1, x2 y2, x y") from the source
 *   anchor to the base of the arrowhead.
 * @property {Point} start where the curve leaves the source.
 * @property {Point} tip the arrowhead's point, on the target's frame (or under its label).
 * @property {Point} mid the curve's point at t = 0.5.
 * @property {Point[]} curve the Bézier's four points: start, two control points, end (the arrowhead's base).
 * @property {string} arrow "x,y x,y x,y" points of the arrowhead triangle (tip first).
 */

/**
 * The curve of one edge and its arrowhead.
 *
 * - target in a lower row: from under the source's label straight down into the top of the target's frame;
 * - target in a higher row: from the top of the source's frame up into the bottom of the target's label;
 * - same row: an arc of height `arc` over the row, from frame top to frame top.
 * The tangent at both ends is vertical, so the arrowhead (length `arrowLength`) sits on the curve's axis.
 *
 * @param {NodeBox} source
 * @param {NodeBox} target
 * @param {number} arrowLength length of the arrowhead (> 0); its base is 1.2 x that wide.
 * @param {number} arc height of a same-row arc (GraphLayout.arc).
 * @returns {EdgeGeometry}
 */
export function edgeGeometry(source, target, arrowLength, arc) {
  /** @type {Point} */ let start;
  /** @type {Point} */ let tip;
  let dir; // +1: the arrow points down, -1: up
  let bend;
  if (target.level > source.level) {
    start = { x: source.x, y: source.bottom };
    tip = { x: target.x, y: target.top };
    dir = 1;
  } else if (target.level < source.level) {
    start = { x: source.x, y: source.top };
    tip = { x: target.x, y: target.bottom };
    dir = -1;
  } else {
    start = { x: source.x, y: source.top };
    tip = { x: target.x, y: target.top };
    dir = 1;
  }
  const base = { x: tip.x, y: tip.y - dir * arrowLength };
  /** @type {Point} */ let c1;
  /** @type {Point} */ let c2;
  if (target.level === source.level) {
    // control points above both ends; a cubic reaches 3/4 of their height
    bend = (arc * 4) / 3;
    c1 = { x: start.x, y: Math.min(start.y, base.y) - bend };
    c2 = { x: base.x, y: Math.min(start.y, base.y) - bend };
  } else {
    bend = Math.max(Math.abs(base.y - start.y) / 2, arrowLength);
    c1 = { x: start.x, y: start.y + dir * bend };
    c2 = { x: base.x, y: base.y - dir * bend };
  }
  const curve = [start, c1, c2, base];
  const mid = bezierPoint(curve, 0.5);
  const half = arrowLength * 0.6;
  const arrow = [
    [tip.x, tip.y],
    [base.x - half, base.y],
    [base.x + half, base.y],
  ]
    .map(([x, y]) => `${round2(x)},${round2(y)}`)
    .join(" ");
  const d =
    `M ${round2(start.x)} ${round2(start.y)} ` +
    `C ${round2(c1.x)} ${round2(c1.y)}, ${round2(c2.x)} ${round2(c2.y)}, ${round2(base.x)} ${round2(base.y)}`;
  return { d, start, tip, mid, curve, arrow };
}

/**
 * A point of a cubic Bézier.
 *
 * @param {ReadonlyArray<Point>} curve its four points (start, control, control, end).
 * @param {number} t the curve parameter in [0, 1].
 * @returns {Point}
 */
export function bezierPoint(curve, t) {
  const [p0, p1, p2, p3] = curve;
  const u = 1 - t;
  const a = u * u * u;
  const b = 3 * u * u * t;
  const c = 3 * u * t * t;
  const d = t * t * t;
  return { x: a * p0.x + b * p1.x + c * p2.x + d * p3.x, y: a * p0.y + b * p1.y + c * p2.y + d * p3.y };
}

/**
 * @typedef {object} EdgeLabel
 * @property {ReadonlyArray<Point>} curve the edge's Bézier (EdgeGeometry.curve).
 * @property {number} width the label's box width in px (see edgeLabelWidth).
 */

/**
 * Where to put each edge's label so that labels overlap neither each other nor the thumbnails, where they can.
 * Labels are placed in input order; each takes the first of LABEL_POSITIONS along its edge whose box
 * (width x EDGE_LABEL_HEIGHT, centred on the point) is clear of the obstacles and of the labels placed before it,
 * or, when none is clear, the position with the least overlapping area.
 *
 * @param {ReadonlyArray<EdgeLabel>} labels one per labelled edge.
 * @param {ReadonlyArray<Rect>} obstacles boxes a label must not cover (the thumbnails' frames and labels).
 * @returns {Rect[]} each label's box, in the order of `labels`; its centre is the text's anchor.
 */
export function placeEdgeLabels(labels, obstacles) {
  /** @type {Rect[]} */
  const placed = [];
  for (const label of labels) {
    let best = null;
    let bestCost = Infinity;
    for (const t of LABEL_POSITIONS) {
      const at = bezierPoint(label.curve, t);
      const box = {
        x: at.x - label.width / 2,
        y: at.y - EDGE_LABEL_HEIGHT / 2,
        width: label.width,
        height: EDGE_LABEL_HEIGHT,
      };
      const cost = overlapArea(box, obstacles) + overlapArea(box, placed);
      if (cost < bestCost) {
        best = box;
        bestCost = cost;
      }
      if (cost === 0) break;
    }
    if (best) placed.push(best);
  }
  return placed;
}

/**
 * @param {NodeBox} box a node's box.
 * @returns {Rect} what the node covers: its thumbnail box and the label under it.
 */
export function nodeArea(box) {
  const top = box.y - box.size / 2;
  return { x: box.x - box.size / 2, y: top, width: box.size, height: box.bottom - top };
}

/**
 * @param {string} text an edge label.
 * @param {number} [charWidth=CHAR_WIDTH] assumed width of one character in px.
 * @returns {number} the width of its box: the text plus 3 px of halo on each side.
 */
export function edgeLabelWidth(text, charWidth = CHAR_WIDTH) {
  return Array.from(text).length * charWidth + 6;
}

/**
 * @param {Rect} box
 * @param {ReadonlyArray<Rect>} others
 * @returns {number} the summed area of box's intersections with others.
 */
function overlapArea(box, others) {
  let area = 0;
  for (const o of others) {
    const w = Math.min(box.x + box.width, o.x + o.width) - Math.max(box.x, o.x);
    const h = Math.min(box.y + box.height, o.y + o.height) - Math.max(box.y, o.y);
    if (w > 0 && h > 0) area += w * h;
  }
  return area;
}

/**
 * Length of the arrowhead for a line of this width: readable for thin lines, not huge for thick ones.
 *
 * @param {number} lineWidth stroke width in user units (> 0).
 * @returns {number} 3 * lineWidth + 2, kept between 8 and ARROW_MAX.
 */
export function arrowLengthFor(lineWidth) {
  const w = Number.isFinite(lineWidth) && lineWidth > 0 ? lineWidth : 2;
  return Math.min(ARROW_MAX, Math.max(8, 3 * w + 2));
}

/**
 * Shorten a label to fit a width, ending it with "…" when cut.
 *
 * @param {string} text the label.
 * @param {number} maxWidth available width in px.
 * @param {number} [charWidth=CHAR_WIDTH] assumed width of one character in px.
 * @returns {string} text itself when text.length * charWidth <= maxWidth, else its first characters and "…"
 *   (at least one character and the ellipsis).
 */
export function fitLabel(text, maxWidth, charWidth = CHAR_WIDTH) {
  const chars = Array.from(text);
  const fits = Math.floor(maxWidth / charWidth);
  if (chars.length <= fits) return text;
  return chars.slice(0, Math.max(1, fits - 1)).join("") + "…";
}

/**
 * @param {number} level
 * @returns {number} an integer >= 0.
 */
function sanitiseLevel(level) {
  const n = Math.floor(Number(level));
  return Number.isFinite(n) && n > 0 ? n : 0;
}

/**
 * @param {LayoutNode} node
 * @returns {number} the node's order, 0 when it is not a finite number.
 */
function orderOf(node) {
  const n = Number(node.order);
  return Number.isFinite(n) ? n : 0;
}

/**
 * @param {number} v
 * @returns {number} v rounded to 2 decimals (keeps path strings short).
 */
function round2(v) {
  return Math.round(v * 100) / 100;
}
