import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import widget, { FRAME_COLOURS, frameOf, heatFromBytes, moveFocus } from "../src/grid.js";
import { createMockModel, fakePng, installCanvasStubs, ready } from "./helpers.js";

/** A uint8 map of n values. */
function mapView(values) {
  return new DataView(new Uint8Array(values).buffer);
}

function tile(key, extra = {}) {
  return {
    key,
    caption: `crestling · 0.9${key}`,
    tooltip: `toy-0-${key} · label crestling · predicted crestling`,
    frame: "correct",
    thumbnail: fakePng(2, 2, [100, 100, 100]),
    map: mapView([0, 255, 255, 0]),
    ...extra,
  };
}

function traits(overrides = {}) {
  return {
    tiles: [tile("0"), tile("1", { frame: "wrong" }), tile("2", { frame: "none", map: new DataView(new ArrayBuffer(0)) })],
    columns: 2,
    tile_size: 64,
    colormap: "gray",
    alpha: 1,
    threshold: 0,
    mode: "overlay",
    selected: "",
    empty_text: "no image matches the filters",
    ...overrides,
  };
}

let stubs;
let cleanups;

beforeEach(() => {
  stubs = installCanvasStubs();
  cleanups = [];
});

afterEach(() => {
  for (const c of cleanups) c();
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
});

async function mount(overrides) {
  const model = createMockModel(traits(overrides));
  const el = document.createElement("div");
  document.body.append(el);
  const cleanup = widget.render({ model, el, experimental: /** @type {any} */ ({}) });
  cleanups.push(() => {
    cleanup?.();
    el.remove();
  });
  await ready(el);
  return { model, el };
}

const tiles = (el) => [...el.querySelectorAll(".xw-grid-tile")];

describe("pure helpers", () => {
  it("maps unknown frames to none", () => {
    expect(frameOf("correct")).toBe("correct");
    expect(frameOf("wrong")).toBe("wrong");
    expect(frameOf("bogus")).toBe("none");
    expect(frameOf(undefined)).toBe("none");
  });

  it("turns uint8 maps into [0, 1] floats", () => {
    expect(Array.from(heatFromBytes(mapView([0, 51, 255])))).toEqual([0, 0.2, 1].map((v) => Math.fround(v)));
  });

  it("moves the focus by columns and stops at the edges", () => {
    expect(moveFocus(0, "ArrowRight", 3, 7)).toBe(1);
    expect(moveFocus(0, "ArrowLeft", 3, 7)).toBe(0);
    expect(moveFocus(1, "ArrowDown", 3, 7)).toBe(4);
    expect(moveFocus(4, "ArrowDown", 3, 7)).toBe(4);
    expect(moveFocus(4, "ArrowUp", 3, 7)).toBe(1);
    expect(moveFocus(2, "Tab", 3, 7)).toBe(2);
  });
});

describe("ThumbnailGridView", () => {
  it("draws one focusable tile per entry with its frame, caption and plain-text tooltip", async () => {
    const { el } = await mount();
    const nodes = tiles(el);
    expect(nodes.map((n) => n.dataset.key)).toEqual(["0", "1", "2"]);
    expect(nodes.map((n) => n.dataset.frame)).toEqual(["correct", "wrong", "none"]);
    expect(nodes.every((n) => n.tabIndex === 0)).toBe(true);
    expect(nodes[0].title).toBe("toy-0-0 · label crestling · predicted crestling");
    expect(nodes[1].querySelector(".xw-grid-caption").textContent).toBe("crestling · 0.91");
    expect(nodes[1].querySelector(".xw-grid-badge").textContent).toBe("✗");
    expect(nodes[0].querySelector(".xw-grid-badge").textContent).toBe("✓");
    expect(nodes[2].querySelector(".xw-grid-badge")).toBeNull();
    const border = nodes[1].querySelector("canvas").style.borderColor;
    expect(border === FRAME_COLOURS.wrong || border === "rgb(213, 94, 0)").toBe(true);
    expect(el.dataset.tiles).toBe("3");
    const tilesBox = el.querySelector(".xw-grid-tiles");
    expect(tilesBox.style.gridTemplateColumns).toBe("repeat(auto-fill, 70px)");
    expect(tilesBox.style.maxWidth).toBe("146px"); // at most 2 columns of 70 px and one 6 px gap
  });

  it("never renders a tooltip or caption as HTML", async () => {
    const { el } = await mount({ tiles: [tile("0", { tooltip: "<b>x</b>", caption: "<img src=x onerror=alert(1)>" })] });
    expect(el.querySelector("b")).toBeNull();
    expect(el.querySelector(".xw-grid-caption img")).toBeNull();
    expect(tiles(el)[0].title).toBe("<b>x</b>");
  });

  it("blends the map in the browser and re-blends on colormap / alpha without decoding again", async () => {
    const { model, el } = await mount();
    const canvases = el.querySelectorAll("canvas");
    const first = stubs.contextOf(canvases[0]).lastPut;
    // gray colormap at alpha 1 in overlay mode: the pixel is the map value
    expect(Array.from(first.data.slice(0, 8))).toEqual([0, 0, 0, 255, 255, 255, 255, 255]);
    expect(tiles(el)[0].dataset.map).toBe("true");
    const plain = stubs.contextOf(canvases[2]).lastPut;
    expect(Array.from(plain.data.slice(0, 4))).toEqual([100, 100, 100, 255]);
    expect(tiles(el)[2].dataset.map).toBe("false");
    const decodes = stubs.createImageBitmap.mock.calls.length;
    model.pySet("alpha", 0.5);
    await ready(el);
    const half = stubs.contextOf(canvases[0]).lastPut;
    expect(half.data[4]).toBe(178); // 0.5 * 100 + 0.5 * 255 rounded down by the clamped array
    expect(stubs.createImageBitmap.mock.calls.length).toBe(decodes);
  });

  it("draws a thumbnail alone when its map has the wrong size", async () => {
    const { el } = await mount({ tiles: [tile("0", { map: mapView([255, 255]) })] });
    expect(tiles(el)[0].dataset.map).toBe("false");
  });

  it("selects a tile on click and on Enter, and shows the selection from Python", async () => {
    const { model, el } = await mount();
    tiles(el)[1].querySelector("canvas").dispatchEvent(new MouseEvent("click", { bubbles: true }));
    expect(model.get("selected")).toBe("1");
    expect(model.calls.save_changes).toBe(1);
    expect(tiles(el)[1].classList.contains("xw-grid-tile-selected")).toBe(true);
    tiles(el)[2].dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
    expect(model.get("selected")).toBe("2");
    model.pySet("selected", "0");
    expect(tiles(el)[0].getAttribute("aria-pressed")).toBe("true");
    expect(tiles(el)[2].getAttribute("aria-pressed")).toBe("false");
  });

  it("moves the keyboard focus with the arrow keys", async () => {
    const { el } = await mount();
    tiles(el)[0].focus();
    tiles(el)[0].dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowDown", bubbles: true }));
    expect(document.activeElement).toBe(tiles(el)[2]);
  });

  it("replaces the tiles of a new page and says when there are none", async () => {
    const { model, el } = await mount();
    model.pySet("tiles", [tile("7")]);
    await ready(el);
    expect(tiles(el).map((n) => n.dataset.key)).toEqual(["7"]);
    model.pySet("tiles", []);
    await ready(el);
    expect(tiles(el)).toHaveLength(0);
    const empty = el.querySelector(".xw-grid-empty");
    expect(empty.hidden).toBe(false);
    expect(empty.textContent).toBe("no image matches the filters");
  });

  it("keeps only the newest page when pages arrive faster than they decode", async () => {
    const { model, el } = await mount();
    let release;
    const gate = new Promise((resolve) => (release = resolve));
    stubs.decodeGate = async (bitmap) => {
      if (bitmap.rgb[0] === 1) await gate;
    };
    model.pySet("tiles", [tile("slow", { thumbnail: fakePng(2, 2, [1, 1, 1]) })]);
    model.pySet("tiles", [tile("fast")]);
    await ready(el);
    release();
    await new Promise((r) => setTimeout(r, 10));
    expect(tiles(el).map((n) => n.dataset.key)).toEqual(["fast"]);
  });

  it("removes its listeners on cleanup", async () => {
    const model = createMockModel(traits());
    const el = document.createElement("div");
    const cleanup = widget.render({ model, el, experimental: /** @type {any} */ ({}) });
    await ready(el);
    cleanup();
    expect(model.listenerCount()).toBe(0);
  });
});
