import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import widget from "../src/gallery.js";
import { createMockModel, ready } from "./helpers.js";

/** Stand-in PNG bytes (the view never decodes them: the browser's <img> does). */
function png(...bytes) {
  return new DataView(new Uint8Array([137, 80, 78, 71, ...bytes]).buffer);
}

function item(id, extra = {}) {
  return {
    id,
    image: png(id.charCodeAt(0)),
    width: 8,
    height: 8,
    caption: `${id} caption`,
    detail: "",
    boxes: [],
    ...extra,
  };
}

function group(id, items, extra = {}) {
  return { id, title: `${id} title`, detail: "", colour: "#8c959f", items, ...extra };
}

function traits(overrides = {}) {
  return {
    groups: [
      group(
        "g1",
        [
          item("a", { detail: "top image 1" }),
          item("b", {
            width: 200,
            height: 100,
            boxes: [
              { x0: 50, y0: 25, x1: 150, y1: 75, colour: "#d62728" },
              { x0: 0, y0: 0, x1: 20, y1: 10, colour: "" },
            ],
          }),
          item("c", { width: 30, height: 60, caption: "" }),
        ],
        { colour: "#1f77b4", detail: "3 images, 80% purity" },
      ),
      group("g2", [item("d")]),
      group("g3", [], { title: "" }),
    ],
    title: "concepts",
    thumbnail_size: 96,
    wrap: false,
    selected_group: "",
    selected_item: "",
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
    const url = `blob:gallery-test/${++n}`;
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
  const root = el.querySelector(".xw-gallery");
  const q = (sel) => root.querySelector(sel);
  const header = (id) => q(`.xw-gallery-header[data-group-id="${id}"]`);
  const itemEl = (id) => q(`[data-item-id="${id}"]`);
  const row = (id) => header(id).closest(".xw-gallery-group");
  return { model, el, root, cleanup, q, header, itemEl, row };
}

function click(target) {
  target.dispatchEvent(new MouseEvent("click", { bubbles: true }));
}

const px = (value) => Number(value.replace("px", ""));
const attr = (node, name) => Number(node.getAttribute(name));

/** Where an item's image is drawn inside its thumbnail box. */
function imageRect(node) {
  const { left, top, width, height } = node.querySelector("img.xw-gallery-image").style;
  return { x: px(left), y: px(top), width: px(width), height: px(height) };
}

describe("gallery view: drawing", () => {
  it("draws one row per group and one thumbnail per item, then sets data-ready", () => {
    const { el, root, q, header, itemEl, row } = mount();
    expect(el.querySelectorAll(".xw-gallery")).toHaveLength(1);
    expect(root.dataset.ready).toBe("true");
    expect(root.dataset.groups).toBe("3");
    expect(root.dataset.items).toBe("4");
    expect(q(".xw-gallery-title").textContent).toBe("concepts");
    expect(q(".xw-gallery-title").hidden).toBe(false);
    const headers = [...root.querySelectorAll("[data-group-id]")];
    expect(headers.map((n) => n.getAttribute("data-group-id"))).toEqual(["g1", "g2", "g3"]);
    const items = [...root.querySelectorAll("[data-item-id]")];
    expect(items.map((n) => n.getAttribute("data-item-id"))).toEqual(["a", "b", "c", "d"]);
    expect([...row("g1").querySelectorAll("[data-item-id]")]).toHaveLength(3);
    expect([...row("g2").querySelectorAll("[data-item-id]")].map((n) => n.dataset.itemId)).toEqual(["d"]);
    expect(itemEl("a").closest(".xw-gallery-group")).toBe(row("g1"));
    expect(header("g1").getAttribute("role")).toBe("button");
    expect(itemEl("a").getAttribute("tabindex")).toBe("0");
  });

  it("shows each group's title, detail and colour", () => {
    const { header, row } = mount();
    const g1 = header("g1");
    expect(g1.querySelector(".xw-gallery-group-title").textContent).toBe("g1 title");
    expect(g1.querySelector(".xw-gallery-group-detail").textContent).toBe("3 images, 80% purity");
    expect(g1.querySelector(".xw-gallery-group-detail").hidden).toBe(false);
    expect(g1.title).toBe("3 images, 80% purity");
    expect(g1.querySelector(".xw-gallery-swatch").style.background).toBe("#1f77b4");
    expect(row("g1").style.borderLeftColor).toBe("#1f77b4");
    const g2 = header("g2");
    expect(g2.querySelector(".xw-gallery-group-detail").hidden).toBe(true);
    expect(g2.title).toBe("g2 title"); // no detail: the title
    expect(row("g2").style.borderLeftColor).toBe("#8c959f");
    expect(header("g3").hidden).toBe(true); // neither title nor detail
  });

  it("shows each item's image, caption and tooltip; an empty group says so", () => {
    const { itemEl, row } = mount();
    expect(created).toHaveLength(4);
    expect(created.every(({ blob }) => blob.type === "image/png")).toBe(true);
    const a = itemEl("a");
    expect(a.querySelector("img").getAttribute("src")).toBe(created[0].url);
    expect(a.querySelector(".xw-gallery-caption").textContent).toBe("a caption");
    expect(a.querySelector(".xw-gallery-caption").style.maxWidth).toBe("96px");
    expect(a.title).toBe("top image 1");
    expect(itemEl("b").title).toBe("b caption"); // no detail: the caption
    expect(itemEl("c").querySelector(".xw-gallery-caption").hidden).toBe(true);
    expect(itemEl("c").querySelector("img").alt).toBe("c");
    expect(row("g3").querySelector(".xw-gallery-empty").textContent).toBe("no items");
    expect(row("g1").querySelector(".xw-gallery-empty")).toBeNull();
  });

  it("reads the PNG bytes of each item into its blob", async () => {
    mount();
    const bytes = new Uint8Array(await created[3].blob.arrayBuffer());
    expect(Array.from(bytes)).toEqual([137, 80, 78, 71, "d".charCodeAt(0)]);
  });

  it("fits each image into its square box, aspect kept and centred", () => {
    const { itemEl } = mount();
    const thumb = itemEl("b").querySelector(".xw-gallery-thumb");
    expect([thumb.style.width, thumb.style.height]).toEqual(["96px", "96px"]);
    expect(imageRect(itemEl("b"))).toEqual({ x: 0, y: 24, width: 96, height: 48 }); // 200x100
    expect(imageRect(itemEl("c"))).toEqual({ x: 24, y: 0, width: 48, height: 96 }); // 30x60
    expect(imageRect(itemEl("a"))).toEqual({ x: 0, y: 0, width: 96, height: 96 }); // 8x8
    expect(itemEl("a").querySelector("img").style.imageRendering).toBe("pixelated");
    expect(itemEl("b").querySelector("img").style.imageRendering).toBe("auto");
  });

  it("outlines boxes over the fitted image, in image pixels scaled with it", () => {
    const { itemEl } = mount();
    const svg = itemEl("b").querySelector("svg.xw-gallery-boxes");
    expect(svg.namespaceURI).toBe("http://www.w3.org/2000/svg");
    expect(svg.getAttribute("viewBox")).toBe("0 0 96 96");
    const rects = [...svg.querySelectorAll("rect.xw-gallery-box")];
    expect(rects).toHaveLength(2);
    // scale 0.48, image drawn from y = 24
    expect(["x", "y", "width", "height"].map((k) => attr(rects[0], k))).toEqual([24, 36, 48, 24]);
    expect(rects[0].getAttribute("stroke")).toBe("#d62728");
    // on the box's left edge: moved in by half the halo's width, so the outline is not cut off
    expect(["x", "y", "width", "height"].map((k) => attr(rects[1], k))).toEqual([3, 24, 6.6, 4.8]);
    expect(rects[1].getAttribute("stroke")).toBe("#ffcc00"); // empty colour: the default
    expect(rects[0].getAttribute("fill")).toBeNull();
    expect(itemEl("a").querySelector("svg")).toBeNull(); // no boxes, no overlay
  });

  it("draws each outline thick, over a wider halo that contrasts with its colour", () => {
    const { itemEl } = mount();
    const svg = itemEl("b").querySelector("svg.xw-gallery-boxes");
    const halos = [...svg.querySelectorAll("rect.xw-gallery-box-halo")];
    const rects = [...svg.querySelectorAll("rect.xw-gallery-box")];
    expect(halos).toHaveLength(2);
    for (const [halo, rect] of halos.map((h, i) => [h, rects[i]])) {
      expect(halo.nextElementSibling).toBe(rect); // the halo is drawn first, under its outline
      expect(Number(rect.getAttribute("stroke-width"))).toBeGreaterThanOrEqual(3);
      expect(Number(halo.getAttribute("stroke-width"))).toBeGreaterThan(Number(rect.getAttribute("stroke-width")));
      expect(["x", "y", "width", "height"].map((k) => attr(halo, k))).toEqual(
        ["x", "y", "width", "height"].map((k) => attr(rect, k)),
      );
    }
    expect(halos[0].getAttribute("stroke")).toBe("rgba(255,255,255,0.9)"); // dark red: a light halo
    expect(halos[1].getAttribute("stroke")).toBe("rgba(0,0,0,0.85)"); // yellow: a dark halo
  });

  it("wraps titles, details and captions between their phrases and never cuts them", () => {
    const long = "1. blue wings with a very long name · second phrase";
    const { itemEl, header, q } = mount({
      title: "why they match · top attributes",
      groups: [group("g", [item("x", { caption: long })], { title: "summary 1", detail: "8 samples · SSIM 0.40" })],
    });
    const caption = itemEl("x").querySelector(".xw-gallery-caption");
    expect(caption.textContent).toBe(long);
    expect([...caption.querySelectorAll(".xw-phrase")].map((p) => p.textContent)).toEqual([
      "1. blue wings with a very long name",
      "second phrase",
    ]);
    expect(caption.style.textOverflow).toBe("");
    const detail = header("g").querySelector(".xw-gallery-group-detail");
    expect([...detail.querySelectorAll(".xw-phrase")].map((p) => p.textContent)).toEqual(["8 samples", "SSIM 0.40"]);
    expect(detail.textContent).toBe("8 samples · SSIM 0.40");
    expect(q(".xw-gallery-title").querySelectorAll(".xw-phrase")).toHaveLength(2);
    const css = q("style").textContent;
    const rule = /\.xw-gallery-caption\{([^}]*)\}/.exec(css)[1];
    expect(rule).not.toMatch(/ellipsis|nowrap|overflow:hidden/);
    expect(css).toMatch(/\.xw-phrase\{[^}]*display:inline-block/);
  });

  it("skips boxes that miss the image", async () => {
    const boxes = [
      { x0: 300, y0: 0, x1: 400, y1: 10, colour: "red" },
      { x0: 5, y0: 5, x1: 5, y1: 9, colour: "red" },
      { x0: 0, y0: 0, x1: 4, y1: 4, colour: "blue" },
    ];
    const { itemEl } = mount({ groups: [group("g", [item("x", { width: 200, height: 100, boxes })])] });
    const rects = [...itemEl("x").querySelectorAll("rect.xw-gallery-box")];
    expect(rects.map((r) => r.getAttribute("stroke"))).toEqual(["blue"]);
  });

  it("hides an empty title and follows title changes", () => {
    const { q, model } = mount({ title: "" });
    expect(q(".xw-gallery-title").hidden).toBe(true);
    model.pySet("title", "summaries");
    expect(q(".xw-gallery-title").textContent).toBe("summaries");
    expect(q(".xw-gallery-title").hidden).toBe(false);
  });

  it("wrap switches between one scrolling row and wrapped lines without a redraw", () => {
    const { model, root } = mount();
    expect(root.classList.contains("xw-gallery-wrapped")).toBe(false);
    expect(root.dataset.wrap).toBe("false");
    model.pySet("wrap", true);
    expect(root.classList.contains("xw-gallery-wrapped")).toBe(true);
    expect(root.dataset.wrap).toBe("true");
    expect(root.dataset.draws).toBe("1");
    expect(root.dataset.ready).toBe("true");
    const css = root.querySelector("style").textContent;
    expect(css).toContain(".xw-gallery.xw-gallery-wrapped .xw-gallery-items{flex-wrap:wrap");
    expect(css).toContain(".xw-gallery .xw-gallery-items{display:flex;gap:6px;overflow-x:auto");
  });
});

describe("gallery view: selection", () => {
  it("a header click selects the group with no item, and saves once", () => {
    const { model, root, header, row } = mount({ selected_group: "g2", selected_item: "d" });
    click(header("g1").querySelector(".xw-gallery-group-title"));
    expect(model.calls.set).toEqual([
      ["selected_group", "g1"],
      ["selected_item", ""],
    ]);
    expect(model.calls.save_changes).toBe(1);
    expect(row("g1").classList.contains("xw-gallery-group-selected")).toBe(true);
    expect(header("g1").getAttribute("aria-pressed")).toBe("true");
    expect(row("g2").classList.contains("xw-gallery-group-selected")).toBe(false);
    expect(root.querySelectorAll(".xw-gallery-item-selected")).toHaveLength(0);
    expect([root.dataset.selectedGroup, root.dataset.selectedItem]).toEqual(["g1", ""]);
  });

  it("an item click selects the item and its group, and saves once", () => {
    const { model, root, itemEl, row } = mount();
    click(itemEl("d").querySelector("img"));
    expect(model.calls.set).toEqual([
      ["selected_group", "g2"],
      ["selected_item", "d"],
    ]);
    expect(model.calls.save_changes).toBe(1);
    expect(itemEl("d").classList.contains("xw-gallery-item-selected")).toBe(true);
    expect(itemEl("d").getAttribute("aria-pressed")).toBe("true");
    expect(itemEl("a").classList.contains("xw-gallery-item-selected")).toBe(false);
    expect(row("g2").classList.contains("xw-gallery-group-selected")).toBe(true);
    expect(row("g1").classList.contains("xw-gallery-group-selected")).toBe(false);
    expect([root.dataset.selectedGroup, root.dataset.selectedItem]).toEqual(["g2", "d"]);
    click(itemEl("b").querySelector(".xw-gallery-caption"));
    expect(model.calls.set.slice(2)).toEqual([
      ["selected_group", "g1"],
      ["selected_item", "b"],
    ]);
    expect(model.calls.save_changes).toBe(2);
  });

  it("a click outside headers and thumbnails selects nothing", () => {
    const { model, row, q } = mount();
    click(row("g1"));
    click(row("g1").querySelector(".xw-gallery-items"));
    click(row("g3").querySelector(".xw-gallery-empty"));
    click(q(".xw-gallery-title"));
    expect(model.calls.set).toEqual([]);
    expect(model.calls.save_changes).toBe(0);
  });

  it("Enter or Space on a focused header or item selects it", () => {
    const { model, header, itemEl } = mount();
    itemEl("c").dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
    header("g2").dispatchEvent(new KeyboardEvent("keydown", { key: " ", bubbles: true }));
    itemEl("a").dispatchEvent(new KeyboardEvent("keydown", { key: "x", bubbles: true }));
    expect(model.calls.set).toEqual([
      ["selected_group", "g1"],
      ["selected_item", "c"],
      ["selected_group", "g2"],
      ["selected_item", ""],
    ]);
  });

  it("follows a selection made in Python without echoing it back", () => {
    const { model, root, itemEl, row } = mount({ selected_group: "g1", selected_item: "a" });
    expect(itemEl("a").classList.contains("xw-gallery-item-selected")).toBe(true);
    expect(row("g1").classList.contains("xw-gallery-group-selected")).toBe(true);
    model.pySet("selected_group", "g2");
    model.pySet("selected_item", "d");
    expect(itemEl("a").classList.contains("xw-gallery-item-selected")).toBe(false);
    expect(itemEl("d").classList.contains("xw-gallery-item-selected")).toBe(true);
    expect(row("g2").classList.contains("xw-gallery-group-selected")).toBe(true);
    expect(row("g1").classList.contains("xw-gallery-group-selected")).toBe(false);
    model.pySet("selected_group", "");
    model.pySet("selected_item", "");
    expect(root.querySelectorAll(".xw-gallery-group-selected, .xw-gallery-item-selected")).toHaveLength(0);
    expect(model.calls.set).toEqual([]);
  });
});

describe("gallery view: updates and cleanup", () => {
  it("re-renders new groups in one draw, with no duplicates, revoking the old URLs", async () => {
    const { model, root, itemEl, row } = mount({ selected_group: "g1", selected_item: "a" });
    const oldUrls = created.map((c) => c.url);
    model.pySet("groups", [group("k", [item("x"), item("y")])]);
    model.pySet("selected_group", "k");
    model.pySet("selected_item", "y");
    model.pySet("thumbnail_size", 64);
    expect(root.dataset.ready).toBe("false");
    await ready(root);
    expect(root.dataset.draws).toBe("2"); // the changes were coalesced
    expect([...root.querySelectorAll("[data-item-id]")].map((n) => n.dataset.itemId)).toEqual(["x", "y"]);
    expect([...root.querySelectorAll("[data-group-id]")].map((n) => n.dataset.groupId)).toEqual(["k"]);
    expect([root.dataset.groups, root.dataset.items]).toEqual(["1", "2"]);
    expect(revoked.sort()).toEqual(oldUrls.sort());
    expect(created).toHaveLength(6);
    expect(itemEl("y").classList.contains("xw-gallery-item-selected")).toBe(true);
    expect(row("k").classList.contains("xw-gallery-group-selected")).toBe(true);
  });

  it("redraws at a new thumbnail size, boxes rescaled with the image", async () => {
    const { model, root, itemEl } = mount();
    const before = itemEl("b").querySelector("rect.xw-gallery-box");
    expect(attr(before, "width")).toBe(48);
    model.pySet("thumbnail_size", 192);
    await ready(root);
    const thumb = itemEl("b").querySelector(".xw-gallery-thumb");
    expect(thumb.style.width).toBe("192px");
    expect(imageRect(itemEl("b"))).toEqual({ x: 0, y: 48, width: 192, height: 96 });
    const rect = itemEl("b").querySelector("rect.xw-gallery-box");
    expect(["x", "y", "width", "height"].map((k) => attr(rect, k))).toEqual([48, 72, 96, 48]);
    expect(root.querySelectorAll("[data-item-id]")).toHaveLength(4);
  });

  it("shows an empty gallery", async () => {
    const { model, root } = mount();
    model.pySet("groups", []);
    await ready(root);
    expect([root.dataset.groups, root.dataset.items]).toEqual(["0", "0"]);
    expect(root.querySelectorAll(".xw-gallery-group")).toHaveLength(0);
  });

  it("cleanup revokes every URL and removes every listener it added", () => {
    let proto = Object.getPrototypeOf(document.createElement("div"));
    while (!Object.prototype.hasOwnProperty.call(proto, "addEventListener")) {
      proto = Object.getPrototypeOf(proto);
    }
    const add = vi.spyOn(proto, "addEventListener");
    const remove = vi.spyOn(proto, "removeEventListener");
    const { model, cleanup, itemEl, root } = mount();
    const added = add.mock.calls.map((c, i) => [add.mock.contexts[i], c[0], c[1]]);
    expect(added.length).toBeGreaterThanOrEqual(2);
    expect(model.listenerCount()).toBe(6);
    expect(typeof cleanup).toBe("function");
    cleanup();
    expect(revoked.sort()).toEqual(created.map((c) => c.url).sort());
    expect(model.listenerCount()).toBe(0);
    const removed = remove.mock.calls.map((c, i) => [remove.mock.contexts[i], c[0], c[1]]);
    for (const [target, type, fn] of added) {
      expect(removed.some(([t, ty, f]) => t === target && ty === type && f === fn)).toBe(true);
    }
    click(itemEl("a"));
    expect(model.calls.set).toEqual([]);
    model.pySet("title", "after cleanup");
    expect(root.querySelector(".xw-gallery-title").textContent).toBe("concepts");
  });

  it("a redraw scheduled before cleanup does not run after it", async () => {
    const { model, cleanup, root } = mount();
    model.pySet("groups", [group("k", [item("x")])]);
    cleanup();
    await Promise.resolve();
    await Promise.resolve();
    expect(root.dataset.draws).toBe("1");
    expect(root.querySelector('[data-item-id="x"]')).toBeNull();
  });
});
