import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import widget from "../src/graph.js";
import { edgeLabelWidth } from "../src/lib/graph_layout.js";
import { createMockModel } from "./helpers.js";

/** Stand-in PNG bytes (the view never decodes them: the browser's <image> does). */
function png(...bytes) {
  return new DataView(new Uint8Array([137, 80, 78, 71, ...bytes]).buffer);
}

function node(id, level, order, extra = {}) {
  return {
    id,
    image: png(id.charCodeAt(0)),
    width: 8,
    height: 8,
    label: `${id} label`,
    level,
    order,
    colour: "#8c959f",
    detail: "",
    ...extra,
  };
}

function edge(source, target, extra = {}) {
  return { source, target, colour: "#6e7781", width: 2, label: "", ...extra };
}

function traits(overrides = {}) {
  return {
    nodes: [
      node("a", 0, 0, { colour: "#d62728", detail: "the whole image" }),
      node("b", 1, 1),
      node("c", 1, 0, { width: 200, height: 100 }),
      node("d", 2, 0),
    ],
    edges: [edge("a", "b", { colour: "#1f77b4", width: 3, label: "-2%" }), edge("a", "c"), edge("c", "d")],
    title: "attention graph",
    thumbnail_size: 72,
    enlarged_size: 224,
    display_width: null,
    display_height: null,
    selected: "",
    hovered: "",
    ...overrides,
  };
}

let cleanups;
let created;
let revoked;

beforeEach(() => {
  cleanups = [];
  created = [];
  revoked = [];
  let n = 0;
  vi.spyOn(URL, "createObjectURL").mockImplementation((blob) => {
    const url = `blob:graph-test/${++n}`;
    created.push({ url, blob });
    return url;
  });
  vi.spyOn(URL, "revokeObjectURL").mockImplementation((url) => {
    revoked.push(url);
  });
});

afterEach(() => {
  for (const c of cleanups) c();
  vi.restoreAllMocks();
});

function mount(overrides) {
  const model = createMockModel(traits(overrides));
  const el = document.createElement("div");
  document.body.append(el);
  const cleanup = widget.render({ model, el });
  cleanups.push(() => {
    if (typeof cleanup === "function") cleanup();
    el.remove();
  });
  const root = el.querySelector(".xw-graph");
  const q = (sel) => root.querySelector(sel);
  const nodeEl = (id) => q(`g.xw-graph-node[data-id="${id}"]`);
  return { model, el, root, cleanup, q, nodeEl };
}

async function ready(root) {
  await vi.waitFor(() => {
    if (root.dataset.ready !== "true") throw new Error(`data-ready=${root.dataset.ready}`);
  }, { interval: 2, timeout: 2000 });
}

const num = (node, attr) => Number(node.getAttribute(attr));

/** Centre x, frame top, and the y under the label of a drawn node. */
function anchors(g) {
  const rect = g.querySelector("rect.xw-graph-frame");
  const label = g.querySelector("text.xw-graph-label");
  return {
    x: num(rect, "x") + num(rect, "width") / 2,
    top: num(rect, "y"),
    labelY: num(label, "y"),
  };
}

function pathEnds(d) {
  const nums = d.match(/-?\d+(\.\d+)?/g).map(Number);
  return { start: [nums[0], nums[1]], end: [nums[6], nums[7]] };
}

function click(target) {
  target.dispatchEvent(new MouseEvent("click", { bubbles: true }));
}

describe("graph view: drawing", () => {
  it("draws every node with its image, frame, label and tooltip, then sets data-ready", () => {
    const { el, root, q, nodeEl } = mount();
    expect(el.querySelectorAll(".xw-graph")).toHaveLength(1);
    expect(root.dataset.ready).toBe("true");
    expect(root.dataset.nodes).toBe("4");
    expect(root.dataset.edges).toBe("3");
    expect(q(".xw-graph-title").textContent).toBe("attention graph");
    expect(q(".xw-graph-title").hidden).toBe(false);
    const svg = q("svg.xw-graph-svg");
    expect(svg.namespaceURI).toBe("http://www.w3.org/2000/svg");
    const groups = [...root.querySelectorAll("g.xw-graph-node")];
    expect(groups.map((g) => g.getAttribute("data-id"))).toEqual(["a", "b", "c", "d"]);
    expect(created).toHaveLength(4);
    expect(created.every(({ blob }) => blob.type === "image/png")).toBe(true);
    const a = nodeEl("a");
    expect(a.getAttribute("data-level")).toBe("0");
    expect(a.querySelector("image").getAttribute("href")).toBe(created[0].url);
    expect(a.querySelector("rect.xw-graph-frame").getAttribute("stroke")).toBe("#d62728");
    expect(a.querySelector("rect.xw-graph-frame").getAttribute("stroke-width")).toBe("2");
    expect(a.querySelector("text.xw-graph-label").textContent).toBe("a label");
    expect(a.querySelector("title").textContent).toBe("the whole image");
    expect(nodeEl("b").querySelector("title").textContent).toBe("b label"); // no detail: the label
    expect(q(".xw-graph-enlarged").hidden).toBe(true);
  });

  it("reads the PNG bytes of each node into its blob", async () => {
    mount();
    const bytes = new Uint8Array(await created[1].blob.arrayBuffer());
    expect(Array.from(bytes)).toEqual([137, 80, 78, 71, "b".charCodeAt(0)]);
  });

  it("lays out rows by level, sorted by order, centred", () => {
    const { nodeEl, q } = mount();
    const [a, b, c, d] = ["a", "b", "c", "d"].map((id) => anchors(nodeEl(id)));
    const width = Number(q("svg").getAttribute("viewBox").split(" ")[2]);
    expect(c.x).toBeLessThan(b.x); // c has the smaller order
    expect(a.x).toBeCloseTo(width / 2);
    expect(d.x).toBeCloseTo(width / 2);
    expect((b.x + c.x) / 2).toBeCloseTo(width / 2);
    expect(a.labelY).toBeLessThan(b.top);
    expect(b.labelY).toBeLessThan(d.top);
    // the wide image gets a wide, short frame in its row
    const frame = nodeEl("c").querySelector("rect.xw-graph-frame");
    expect(num(frame, "width")).toBe(72);
    expect(num(frame, "height")).toBe(36);
    expect(c.top).toBeGreaterThan(b.top);
  });

  it("draws each edge under the nodes, from under its source to the top of its target", () => {
    const { root, q, nodeEl } = mount();
    const layers = [...q("svg").children].map((g) => g.getAttribute("class"));
    expect(layers).toEqual(["xw-graph-edges", "xw-graph-nodes"]);
    const paths = [...root.querySelectorAll("path.xw-graph-edge")];
    expect(paths.map((p) => [p.getAttribute("data-source"), p.getAttribute("data-target")])).toEqual([
      ["a", "b"],
      ["a", "c"],
      ["c", "d"],
    ]);
    const arrows = [...root.querySelectorAll("polygon.xw-graph-arrow")];
    expect(arrows).toHaveLength(3);
    paths.forEach((path, i) => {
      const source = anchors(nodeEl(path.getAttribute("data-source")));
      const target = anchors(nodeEl(path.getAttribute("data-target")));
      const { start, end } = pathEnds(path.getAttribute("d"));
      expect(start[0]).toBeCloseTo(source.x, 1);
      expect(start[1]).toBeGreaterThan(source.labelY); // starts under the label
      expect(end[0]).toBeCloseTo(target.x, 1);
      expect(end[1]).toBeLessThan(target.top);
      const tip = arrows[i].getAttribute("points").split(" ")[0].split(",").map(Number);
      expect(tip[0]).toBeCloseTo(target.x, 1);
      expect(tip[1]).toBeCloseTo(target.top, 1); // the arrow touches the target's frame
    });
    expect(paths[0].getAttribute("stroke")).toBe("#1f77b4");
    expect(paths[0].getAttribute("stroke-width")).toBe("3");
    expect(arrows[0].getAttribute("fill")).toBe("#1f77b4");
    expect(paths[1].getAttribute("stroke")).toBe("#6e7781");
    const labels = [...root.querySelectorAll("text.xw-graph-edge-label")];
    expect(labels.map((l) => l.textContent)).toEqual(["-2%"]);
    const a = anchors(nodeEl("a"));
    const b = anchors(nodeEl("b"));
    expect(num(labels[0], "y")).toBeGreaterThan(a.labelY);
    expect(num(labels[0], "y")).toBeLessThan(b.top);
  });

  it("never scales the drawing: a graph wider than display_width scrolls in its box", () => {
    const { q, model, root } = mount({ display_width: 100, display_height: 120 });
    const svg = q("svg");
    const box = q(".xw-graph-scroll");
    expect(box.contains(svg)).toBe(true);
    const [, , vw, vh] = svg.getAttribute("viewBox").split(" ").map(Number);
    expect(vw).toBeGreaterThan(100);
    expect([num(svg, "width"), num(svg, "height")]).toEqual([vw, vh]); // 1 user unit = 1 CSS px
    expect(num(root.querySelector('g[data-id="a"] rect'), "width")).toBe(72);
    expect(box.style.width).toBe("100px");
    expect(box.style.maxHeight).toBe("120px");
    model.pySet("display_width", 900);
    model.pySet("display_height", null);
    return ready(root).then(() => {
      expect(svg.getAttribute("viewBox").split(" ")[2]).toBe("900"); // narrower: widened, rows centred
      expect(num(svg, "width")).toBe(900);
      expect(anchors(root.querySelector('g[data-id="a"]')).x).toBe(450);
      expect(box.style.width).toBe("900px");
      expect(box.style.maxHeight).toBe("");
    });
  });

  it("sizes the box to the drawing when display_width is null", () => {
    const { q } = mount();
    expect(q(".xw-graph-scroll").style.width).toBe("");
    expect(q(".xw-graph-scroll").style.maxHeight).toBe("");
  });

  it("places edge labels clear of each other where several edges cross", () => {
    const fan = ["w", "x", "y", "z"];
    const { root } = mount({
      nodes: [node("p", 0, 0), node("q", 0, 1), ...fan.map((id, i) => node(id, 1, i))],
      edges: fan.flatMap((id) => [edge("p", id, { label: `−P1${id}` }), edge("q", id, { label: `−P2${id}` })]),
    });
    const boxes = [...root.querySelectorAll("text.xw-graph-edge-label")].map((t) => {
      const width = edgeLabelWidth(t.textContent);
      return { x: num(t, "x") - width / 2, y: num(t, "y") - 12, width, height: 16 };
    });
    expect(boxes).toHaveLength(8);
    boxes.forEach((a, i) => {
      for (const b of boxes.slice(i + 1)) {
        const apart = a.x + a.width <= b.x || b.x + b.width <= a.x || a.y + a.height <= b.y || b.y + b.height <= a.y;
        expect(apart).toBe(true);
      }
    });
  });

  it("draws tiny thumbnails with crisp pixels", () => {
    const { nodeEl } = mount();
    expect(nodeEl("a").querySelector("image").getAttribute("style")).toBe("image-rendering:pixelated");
    expect(nodeEl("c").querySelector("image").getAttribute("style")).toBeNull();
  });

  it("hides an empty title and follows title changes", () => {
    const { q, model } = mount({ title: "" });
    expect(q(".xw-graph-title").hidden).toBe(true);
    model.pySet("title", "beam 3");
    expect(q(".xw-graph-title").textContent).toBe("beam 3");
    expect(q(".xw-graph-title").hidden).toBe(false);
  });
});

describe("graph view: selection", () => {
  it("a click selects the node, saves, and shows it enlarged", () => {
    const { model, root, q, nodeEl } = mount();
    click(nodeEl("a").querySelector("image"));
    expect(model.calls.set).toEqual([["selected", "a"]]);
    expect(model.calls.save_changes).toBe(1);
    expect(nodeEl("a").classList.contains("xw-graph-selected")).toBe(true);
    expect(nodeEl("a").querySelector("rect.xw-graph-frame").getAttribute("stroke-width")).toBe("4");
    expect(nodeEl("b").classList.contains("xw-graph-selected")).toBe(false);
    expect(nodeEl("b").querySelector("rect.xw-graph-frame").getAttribute("stroke-width")).toBe("2");
    expect(root.dataset.selected).toBe("a");
    const panel = q(".xw-graph-enlarged");
    expect(panel.hidden).toBe(false);
    const img = q("img.xw-graph-enlarged-image");
    expect(img.getAttribute("src")).toBe(created[0].url);
    expect(img.style.width).toBe("224px");
    expect(img.style.imageRendering).toBe("pixelated"); // 8 px image shown 224 px wide
    expect(q(".xw-graph-enlarged-label").textContent).toBe("a label");
    expect(q(".xw-graph-enlarged-detail").textContent).toBe("the whole image");
  });

  it("selecting a large image does not pixelate it; enlarged_size changes apply", () => {
    const { model, q, nodeEl } = mount();
    click(nodeEl("c"));
    const img = q("img.xw-graph-enlarged-image");
    expect(img.style.imageRendering).toBe("auto"); // 200 px image at 224 px
    expect(q(".xw-graph-enlarged-detail").hidden).toBe(true);
    model.pySet("enlarged_size", 512);
    expect(img.style.width).toBe("512px");
    expect(img.style.imageRendering).toBe("pixelated");
  });

  it("clicking the selected node again, or the close button, clears the selection", () => {
    const { model, q, nodeEl } = mount();
    click(nodeEl("b"));
    click(nodeEl("b").querySelector("text"));
    expect(model.calls.set).toEqual([
      ["selected", "b"],
      ["selected", ""],
    ]);
    expect(q(".xw-graph-enlarged").hidden).toBe(true);
    expect(q("img.xw-graph-enlarged-image").hasAttribute("src")).toBe(false);
    click(nodeEl("d"));
    expect(q(".xw-graph-enlarged").hidden).toBe(false);
    click(q("button.xw-graph-close"));
    expect(model.calls.set.at(-1)).toEqual(["selected", ""]);
    expect(model.calls.save_changes).toBe(4);
    expect(q(".xw-graph-enlarged").hidden).toBe(true);
    expect(nodeEl("d").classList.contains("xw-graph-selected")).toBe(false);
  });

  it("a click outside any node selects nothing", () => {
    const { model, q } = mount();
    click(q("svg"));
    click(q("path.xw-graph-edge"));
    expect(model.calls.set).toEqual([]);
  });

  it("follows a selection made in Python without echoing it back", () => {
    const { model, q, nodeEl, root } = mount({ selected: "d" });
    expect(nodeEl("d").classList.contains("xw-graph-selected")).toBe(true);
    expect(q(".xw-graph-enlarged").hidden).toBe(false);
    model.pySet("selected", "c");
    expect(nodeEl("d").classList.contains("xw-graph-selected")).toBe(false);
    expect(nodeEl("c").classList.contains("xw-graph-selected")).toBe(true);
    expect(q(".xw-graph-enlarged-label").textContent).toBe("c label");
    expect(root.dataset.selected).toBe("c");
    model.pySet("selected", "");
    expect(q(".xw-graph-enlarged").hidden).toBe(true);
    expect(model.calls.set).toEqual([]);
  });

  it("Enter on a focused node selects it", () => {
    const { model, nodeEl } = mount();
    expect(nodeEl("b").getAttribute("tabindex")).toBe("0");
    nodeEl("b").dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
    expect(model.calls.set).toEqual([["selected", "b"]]);
    nodeEl("b").dispatchEvent(new KeyboardEvent("keydown", { key: "a", bubbles: true }));
    expect(model.calls.set).toHaveLength(1);
  });
});

describe("graph view: hover", () => {
  it("sets hovered on entering a node and clears it on leaving", () => {
    const { model, nodeEl, q } = mount();
    const image = nodeEl("b").querySelector("image");
    const frame = nodeEl("b").querySelector("rect");
    q("path.xw-graph-edge").dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
    q("svg").dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
    expect(model.calls.set).toEqual([]); // edges and background are not nodes
    image.dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
    expect(model.calls.set).toEqual([["hovered", "b"]]);
    // moving between parts of the same node changes nothing
    image.dispatchEvent(new MouseEvent("mouseout", { bubbles: true, relatedTarget: frame }));
    frame.dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
    expect(model.calls.set).toEqual([["hovered", "b"]]);
    frame.dispatchEvent(new MouseEvent("mouseout", { bubbles: true, relatedTarget: q("svg") }));
    expect(model.calls.set).toEqual([
      ["hovered", "b"],
      ["hovered", ""],
    ]);
    expect(model.calls.save_changes).toBe(2);
  });
});

describe("graph view: updates and cleanup", () => {
  it("re-renders a new graph in one draw, with no duplicates, revoking the old URLs", async () => {
    const { model, root, nodeEl } = mount({ selected: "a" });
    const oldUrls = created.map((c) => c.url);
    model.pySet("nodes", [node("a", 0, 0), node("x", 1, 0), node("y", 1, 1)]);
    model.pySet("edges", [edge("a", "x"), edge("a", "y")]);
    model.pySet("selected", "x");
    expect(root.dataset.ready).toBe("false");
    await ready(root);
    expect(root.dataset.draws).toBe("2"); // the three changes were coalesced
    expect([...root.querySelectorAll("g.xw-graph-node")].map((g) => g.getAttribute("data-id"))).toEqual([
      "a",
      "x",
      "y",
    ]);
    expect(root.querySelectorAll("path.xw-graph-edge")).toHaveLength(2);
    expect(root.querySelectorAll("polygon.xw-graph-arrow")).toHaveLength(2);
    expect(root.dataset.nodes).toBe("3");
    expect(root.dataset.edges).toBe("2");
    expect(revoked.sort()).toEqual(oldUrls.sort());
    expect(created).toHaveLength(7);
    expect(nodeEl("x").classList.contains("xw-graph-selected")).toBe(true);
    expect(root.querySelector("img.xw-graph-enlarged-image").getAttribute("src")).toBe(created[5].url);
  });

  it("redraws at a new thumbnail size", async () => {
    const { model, root, nodeEl } = mount();
    const before = num(nodeEl("a").querySelector("rect"), "width");
    model.pySet("thumbnail_size", 144);
    await ready(root);
    expect(before).toBe(72);
    expect(num(nodeEl("a").querySelector("rect"), "width")).toBe(144);
    expect(root.querySelectorAll("g.xw-graph-node")).toHaveLength(4);
  });

  it("skips edges whose ends are not drawn and shows an empty graph", async () => {
    const { model, root } = mount();
    model.pySet("edges", [edge("a", "zz"), edge("a", "b")]);
    await ready(root);
    expect(root.dataset.edges).toBe("1");
    model.pySet("nodes", []);
    model.pySet("edges", []);
    await ready(root);
    expect(root.dataset.nodes).toBe("0");
    expect(root.querySelectorAll("g.xw-graph-node")).toHaveLength(0);
    expect(root.querySelector(".xw-graph-scroll").hidden).toBe(true); // no empty frame
    model.pySet("nodes", [node("a", 0, 0)]);
    await ready(root);
    expect(root.querySelector(".xw-graph-scroll").hidden).toBe(false);
  });

  it("cleanup revokes every URL and removes every listener it added", () => {
    let proto = Object.getPrototypeOf(document.createElement("div"));
    while (!Object.prototype.hasOwnProperty.call(proto, "addEventListener")) {
      proto = Object.getPrototypeOf(proto);
    }
    const add = vi.spyOn(proto, "addEventListener");
    const remove = vi.spyOn(proto, "removeEventListener");
    const { model, cleanup, nodeEl } = mount();
    const added = add.mock.calls.map((c, i) => [add.mock.contexts[i], c[0], c[1]]);
    expect(added.length).toBeGreaterThanOrEqual(5);
    expect(model.listenerCount()).toBeGreaterThanOrEqual(7);
    expect(typeof cleanup).toBe("function");
    cleanup();
    expect(revoked.sort()).toEqual(created.map((c) => c.url).sort());
    expect(model.listenerCount()).toBe(0);
    const removed = remove.mock.calls.map((c, i) => [remove.mock.contexts[i], c[0], c[1]]);
    for (const [target, type, fn] of added) {
      expect(removed.some(([t, ty, f]) => t === target && ty === type && f === fn)).toBe(true);
    }
    click(nodeEl("a"));
    expect(model.calls.set).toEqual([]);
  });
});
