import { describe, expect, it } from "vitest";
import {
  ARROW_MAX,
  EDGE_LABEL_HEIGHT,
  LABEL_HEIGHT,
  PADDING,
  arrowLengthFor,
  bezierPoint,
  edgeGeometry,
  edgeLabelWidth,
  fitLabel,
  fitRect,
  layoutGraph,
  nodeArea,
  placeEdgeLabels,
  spacing,
} from "../src/lib/graph_layout.js";

const T = 72;
const { gapX, gapY, arc } = spacing(T);
const PITCH = T + LABEL_HEIGHT + gapY;

/** Numbers of an SVG path "M x y C x1 y1, x2 y2, x y" as [[x, y], ...]. */
function pathPoints(d) {
  const nums = d.match(/-?\d+(\.\d+)?/g).map(Number);
  const points = [];
  for (let i = 0; i < nums.length; i += 2) points.push([nums[i], nums[i + 1]]);
  return points;
}

/** Points "x,y x,y x,y" as [[x, y], ...]. */
const polygon = (points) => points.split(" ").map((p) => p.split(",").map(Number));

describe("spacing", () => {
  it("scales with the thumbnail but never gets cramped", () => {
    expect(spacing(72)).toEqual({ gapX: 22, gapY: 68, arc: 41 });
    expect(spacing(20)).toEqual({ gapX: 16, gapY: 68, arc: 41 });
    expect(spacing(200)).toEqual({ gapX: 60, gapY: 160, arc: 96 });
  });
});

describe("fitRect", () => {
  it("fits the image's aspect into the square box, centred", () => {
    expect(fitRect(100, 50, 72, 12, 8)).toEqual({ x: 64, y: 26, width: 72, height: 48 });
    expect(fitRect(100, 50, 72, 8, 16)).toEqual({ x: 82, y: 14, width: 36, height: 72 });
    expect(fitRect(0, 0, 10, undefined, undefined)).toEqual({ x: -5, y: -5, width: 10, height: 10 });
    expect(fitRect(0, 0, 10, 0, 5)).toEqual({ x: -5, y: -5, width: 10, height: 10 });
  });
});

describe("layoutGraph", () => {
  const nodes = [
    { id: "root", level: 0, order: 0 },
    { id: "c", level: 1, order: 2 },
    { id: "b", level: 1, order: 1 },
    { id: "d", level: 1, order: 1 }, // ties with b: keeps input order (b, then d)
    { id: "deep", level: 3, order: 0 },
  ];

  it("puts nodes in rows by level and sorts each row by order, stably", () => {
    const layout = layoutGraph(nodes, [], { thumbnail: T });
    const row1 = ["b", "d", "c"].map((id) => layout.nodes.get(id));
    expect(row1.map((n) => n.column)).toEqual([0, 1, 2]);
    expect(row1[0].x).toBeLessThan(row1[1].x);
    expect(row1[1].x).toBeLessThan(row1[2].x);
    expect(row1[1].x - row1[0].x).toBe(T + gapX);
    for (const id of nodes.map((n) => n.id)) {
      const box = layout.nodes.get(id);
      expect(box.y).toBe(PADDING + box.level * PITCH + T / 2);
      expect(box.size).toBe(T);
    }
    expect(layout.nodes.get("deep").level).toBe(3); // level 2 is empty and keeps its row
  });

  it("centres every row and sizes the drawing to the widest one", () => {
    const layout = layoutGraph(nodes, [], { thumbnail: T });
    const natural = 3 * T + 2 * gapX + 2 * PADDING;
    expect(layout.width).toBe(natural);
    expect(layout.height).toBe(PADDING + 4 * PITCH - gapY + PADDING);
    expect(layout.nodes.get("root").x).toBe(natural / 2);
    expect(layout.nodes.get("deep").x).toBe(natural / 2);
    expect(layout.nodes.get("d").x).toBe(natural / 2);
    expect(layout.nodes.get("b").x - T / 2).toBe(PADDING); // the widest row touches the padding
    expect(layout.nodes.get("c").x + T / 2).toBe(natural - PADDING);
  });

  it("never shrinks a drawing wider than minWidth: thumbnails keep their size (the view scrolls)", () => {
    const layout = layoutGraph(nodes, [], { thumbnail: T, minWidth: 146 });
    const natural = 3 * T + 2 * gapX + 2 * PADDING; // 292
    expect(layout.width).toBe(natural);
    expect(layout.nodes.get("b").frame.width).toBe(T);
    expect(layout.nodes.get("c").x - layout.nodes.get("b").x).toBe(2 * (T + gapX));
  });

  it("widens a narrower drawing to minWidth and keeps rows centred", () => {
    const layout = layoutGraph(nodes, [], { thumbnail: T, minWidth: 600 });
    expect(layout.width).toBe(600);
    expect(layout.nodes.get("root").x).toBe(300);
    expect(layout.nodes.get("d").x).toBe(300);
    expect(layout.nodes.get("b").x).toBe(300 - T - gapX);
  });

  it("fits frames to the image aspect and anchors edges on them", () => {
    const layout = layoutGraph([{ id: "wide", level: 0, order: 0, width: 30, height: 15 }], [], {
      thumbnail: T,
    });
    const box = layout.nodes.get("wide");
    expect(box.frame.width).toBe(T);
    expect(box.frame.height).toBe(T / 2);
    expect(box.top).toBe(box.y - T / 4); // incoming edges end on the frame, not the empty box
    expect(box.bottom).toBe(box.y + T / 2 + LABEL_HEIGHT); // outgoing edges start under the label
    expect(box.labelY).toBeGreaterThan(box.y + T / 2);
    expect(box.labelY).toBeLessThan(box.bottom);
  });

  it("reserves room above the top row only when two of its nodes are joined", () => {
    const two = [
      { id: "a", level: 0, order: 0 },
      { id: "b", level: 0, order: 1 },
      { id: "c", level: 1, order: 0 },
    ];
    const plain = layoutGraph(two, [{ source: "a", target: "c" }], { thumbnail: T });
    const arced = layoutGraph(two, [{ source: "a", target: "b" }], { thumbnail: T });
    expect(plain.nodes.get("a").y).toBe(PADDING + T / 2);
    expect(arced.nodes.get("a").y).toBe(PADDING + arc + ARROW_MAX + T / 2);
    expect(arced.height - plain.height).toBe(arc + ARROW_MAX);
  });

  it("handles an empty graph and bad levels", () => {
    const empty = layoutGraph([], [], { thumbnail: T });
    expect(empty.nodes.size).toBe(0);
    expect([empty.width, empty.height]).toEqual([2 * PADDING, 2 * PADDING]);
    const odd = layoutGraph([{ id: "x", level: -2, order: NaN }], [], { thumbnail: T });
    expect(odd.nodes.get("x").level).toBe(0);
  });
});

describe("edgeGeometry", () => {
  const layout = layoutGraph(
    [
      { id: "a", level: 0, order: 0 },
      { id: "b", level: 1, order: 0 },
      { id: "c", level: 1, order: 1 },
      { id: "e", level: 2, order: 0 },
    ],
    [],
    { thumbnail: T },
  );
  const box = (id) => layout.nodes.get(id);

  it("goes from under the source's label down to the top of the target", () => {
    const g = edgeGeometry(box("a"), box("c"), 10, layout.arc);
    const pts = pathPoints(g.d);
    expect(pts).toHaveLength(4);
    expect(pts[0]).toEqual([box("a").x, box("a").bottom]);
    expect(pts[3]).toEqual([box("c").x, box("c").top - 10]); // ends at the arrowhead's base
    expect(pts[1][0]).toBe(box("a").x); // vertical tangents at both ends
    expect(pts[2][0]).toBe(box("c").x);
    expect(g.tip).toEqual({ x: box("c").x, y: box("c").top });
    const arrow = polygon(g.arrow);
    expect(arrow[0]).toEqual([box("c").x, box("c").top]);
    expect(arrow[1][1]).toBe(box("c").top - 10);
    expect(arrow[2][0] - arrow[1][0]).toBeCloseTo(12);
    expect(g.mid.y).toBeGreaterThan(box("a").bottom);
    expect(g.mid.y).toBeLessThan(box("c").top);
    expect(g.mid.x).toBeCloseTo((box("a").x + box("c").x) / 2);
  });

  it("points up into the bottom of a target in a higher row", () => {
    const g = edgeGeometry(box("e"), box("a"), 10, layout.arc);
    const pts = pathPoints(g.d);
    expect(pts[0]).toEqual([box("e").x, box("e").top]);
    expect(pts[3]).toEqual([box("a").x, box("a").bottom + 10]);
    const arrow = polygon(g.arrow);
    expect(arrow[0]).toEqual([box("a").x, box("a").bottom]);
    expect(arrow[1][1]).toBeGreaterThan(arrow[0][1]);
  });

  it("arcs over the row between two nodes of one row", () => {
    const g = edgeGeometry(box("b"), box("c"), 10, layout.arc);
    const pts = pathPoints(g.d);
    expect(pts[0]).toEqual([box("b").x, box("b").top]);
    expect(g.tip).toEqual({ x: box("c").x, y: box("c").top });
    expect(g.mid.y).toBeCloseTo(box("b").top - 10 * 7 / 8 - layout.arc);
  });
});

describe("arrowLengthFor and fitLabel", () => {
  it("keeps arrowheads between 8 and ARROW_MAX", () => {
    expect(arrowLengthFor(1)).toBe(8);
    expect(arrowLengthFor(4)).toBe(14);
    expect(arrowLengthFor(30)).toBe(ARROW_MAX);
    expect(arrowLengthFor(NaN)).toBe(8);
  });

  it("cuts long labels with an ellipsis and leaves short ones alone", () => {
    expect(fitLabel("97%", 70)).toBe("97%");
    expect(fitLabel("0123456789", 70)).toBe("0123456789");
    expect(fitLabel("0123456789A", 70)).toBe("012345678…");
    expect(fitLabel("abcdef", 10, 7)).toBe("a…");
  });
});

describe("bezierPoint", () => {
  it("starts and ends on the curve's ends and matches the midpoint formula", () => {
    const curve = [
      { x: 0, y: 0 },
      { x: 0, y: 30 },
      { x: 60, y: 30 },
      { x: 60, y: 60 },
    ];
    expect(bezierPoint(curve, 0)).toEqual({ x: 0, y: 0 });
    expect(bezierPoint(curve, 1)).toEqual({ x: 60, y: 60 });
    expect(bezierPoint(curve, 0.5)).toEqual({ x: 30, y: 30 });
    expect(bezierPoint(curve, 0.25).y).toBeLessThan(30);
  });
});

/** Whether two rects intersect with a positive area. */
function overlaps(a, b) {
  return (
    Math.min(a.x + a.width, b.x + b.width) > Math.max(a.x, b.x) &&
    Math.min(a.y + a.height, b.y + b.height) > Math.max(a.y, b.y)
  );
}

describe("placeEdgeLabels", () => {
  // one parent over four children: the fan the SAG graph draws under every root
  const nodes = [
    { id: "p", level: 0, order: 0 },
    ...["a", "b", "c", "d"].map((id, i) => ({ id, level: 1, order: i })),
    { id: "q", level: 0, order: 1 },
  ];
  const edges = ["a", "b", "c", "d"].flatMap((id) => [
    { source: "p", target: id },
    { source: "q", target: id },
  ]);
  const layout = layoutGraph(nodes, edges, { thumbnail: T });
  const curves = edges.map(
    (e) => edgeGeometry(layout.nodes.get(e.source), layout.nodes.get(e.target), 8, layout.arc).curve,
  );
  const obstacles = [...layout.nodes.values()].map(nodeArea);
  const labels = curves.map((curve) => ({ curve, width: edgeLabelWidth("−P17") }));

  it("puts a lone label at its edge's midpoint", () => {
    const [box] = placeEdgeLabels([labels[0]], obstacles);
    const mid = bezierPoint(curves[0], 0.5);
    expect(box.x + box.width / 2).toBeCloseTo(mid.x);
    expect(box.y + box.height / 2).toBeCloseTo(mid.y);
    expect([box.width, box.height]).toEqual([edgeLabelWidth("−P17"), EDGE_LABEL_HEIGHT]);
  });

  it("keeps eight crossing labels clear of each other and of every thumbnail", () => {
    const boxes = placeEdgeLabels(labels, obstacles);
    expect(boxes).toHaveLength(8);
    boxes.forEach((box, i) => {
      for (const other of boxes.slice(i + 1)) expect(overlaps(box, other)).toBe(false);
      for (const area of obstacles) expect(overlaps(box, area)).toBe(false);
    });
    // at the midpoints alone, some of them would collide (so the test can fail)
    const mids = labels.map(({ curve, width }) => {
      const m = bezierPoint(curve, 0.5);
      return { x: m.x - width / 2, y: m.y - EDGE_LABEL_HEIGHT / 2, width, height: EDGE_LABEL_HEIGHT };
    });
    expect(mids.some((a, i) => mids.slice(i + 1).some((b) => overlaps(a, b)))).toBe(true);
  });

  it("takes the least crowded position when no position is clear", () => {
    const wall = [{ x: -1000, y: -1000, width: 3000, height: 3000 }];
    const [box] = placeEdgeLabels([labels[0]], wall);
    expect(box.width).toBe(labels[0].width); // still placed, on its edge
  });
});

describe("nodeArea and edgeLabelWidth", () => {
  it("covers the thumbnail box and the label under it", () => {
    const layout = layoutGraph([{ id: "a", level: 0, order: 0 }], [], { thumbnail: T });
    const box = layout.nodes.get("a");
    expect(nodeArea(box)).toEqual({ x: box.x - T / 2, y: box.y - T / 2, width: T, height: T + LABEL_HEIGHT });
  });

  it("counts characters, not UTF-16 units, plus the halo", () => {
    expect(edgeLabelWidth("−P7")).toBe(3 * 7 + 6);
    expect(edgeLabelWidth("")).toBe(6);
  });
});
