import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import widget from "../src/heatmap.js";
import { blendHeatmap } from "../src/lib/blend.js";
import { COLORMAP_NAMES, colormapLUT } from "../src/lib/colormaps.js";
import { createMockModel, fakePng, floatView, installCanvasStubs, px, ready } from "./helpers.js";

const W = 4;
const H = 2;
const HEAT = [0, 0.1, 0.2, 0.3, 0.6, 0.7, 0.8, 1];
const RGB = [200, 100, 50];

function traits(overrides = {}) {
  return {
    image: fakePng(W, H, RGB),
    width: W,
    height: H,
    heatmap: floatView(HEAT),
    colormap: "viridis",
    alpha: 0.5,
    threshold: 0.5,
    mode: "overlay",
    show_controls: true,
    display_width: 200,
    pixelated: true,
    title: "cat",
    ...overrides,
  };
}

/** Expected canvas pixels for the given traits (plain RGB image of colour RGB). */
function expected(t) {
  const n = W * H;
  const rgba = new Uint8ClampedArray(n * 4);
  for (let i = 0; i < n; i++) rgba.set([...RGB, 255], i * 4);
  return blendHeatmap(rgba, new Float32Array(HEAT), colormapLUT(t.colormap), t, W);
}

let stubs;
let cleanups;

async function mount(overrides) {
  const model = createMockModel(traits(overrides));
  const el = document.createElement("div");
  document.body.append(el);
  const cleanup = await widget.render({ model, el });
  cleanups.push(() => {
    if (typeof cleanup === "function") cleanup();
    el.remove();
  });
  const canvas = el.querySelector("canvas.xw-canvas");
  return { model, el, cleanup, canvas, ctx: () => stubs.contextOf(canvas) };
}

beforeEach(() => {
  stubs = installCanvasStubs();
  cleanups = [];
});

afterEach(() => {
  for (const c of cleanups) c();
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
});

describe("heatmap view: drawing", () => {
  it("builds the DOM contract and sets data-ready after drawing", async () => {
    const { el, canvas, ctx } = await mount();
    expect(el.classList.contains("xw-heatmap")).toBe(true);
    expect(el.dataset.ready).toBe("false"); // decoding is still pending
    await ready(el);
    expect(el.dataset.draws).toBe("1");
    expect(canvas.width).toBe(W);
    expect(canvas.height).toBe(H);
    expect(canvas.style.width).toBe("200px");
    expect(canvas.style.imageRendering).toBe("pixelated");
    expect(el.querySelector(".xw-title").textContent).toBe("cat");
    expect(el.querySelector(".xw-title").hidden).toBe(false);
    expect(el.querySelector("canvas.xw-colorbar")).not.toBeNull();
    const ends = [...el.querySelectorAll(".xw-legend-end")].map((s) => s.textContent);
    expect(ends).toEqual(["low", "high"]);
    const ticks = [...el.querySelectorAll(".xw-tick")].map((s) => [s.textContent, s.style.left]);
    expect(ticks).toEqual([["0", "0.00%"], ["0.5", "50.00%"], ["1", "100.00%"]]);
    expect(el.querySelector(".xw-status")).not.toBeNull();
    expect(ctx().lastPut.data).toEqual(expected(traits()));
    expect(stubs.createImageBitmap).toHaveBeenCalledTimes(1);
    expect(stubs.createImageBitmap.mock.calls[0][0].type).toBe("image/png");
  });

  it("draws just the image when the heatmap is empty", async () => {
    const { el, ctx } = await mount({ heatmap: new DataView(new ArrayBuffer(0)) });
    await ready(el);
    const out = ctx().lastPut.data;
    for (let i = 0; i < W * H; i++) expect(px(out, i)).toEqual([...RGB, 255]);
    expect(el.querySelector(".xw-legend").hidden).toBe(true);
    expect(el.querySelector(".xw-status").textContent).toBe("");
  });

  it("recolours on Python-side changes without decoding the PNG again", async () => {
    const { el, model, ctx } = await mount();
    await ready(el);
    model.pySet("alpha", 1);
    expect(el.dataset.ready).toBe("false");
    await ready(el);
    expect(ctx().lastPut.data).toEqual(expected(traits({ alpha: 1 })));
    model.pySet("colormap", "magma");
    model.pySet("mode", "kept");
    model.pySet("threshold", 0.25);
    await ready(el);
    const t = traits({ alpha: 1, colormap: "magma", mode: "kept", threshold: 0.25 });
    expect(ctx().lastPut.data).toEqual(expected(t));
    expect(px(ctx().lastPut.data, 0)).toEqual([128, 128, 128, 255]);
    expect(el.dataset.draws).toBe("3"); // the three changes above were coalesced into one draw
    expect(stubs.createImageBitmap).toHaveBeenCalledTimes(1);
  });

  it("redraws a new heatmap and a new image", async () => {
    const { el, model, ctx } = await mount();
    await ready(el);
    model.pySet("heatmap", floatView(new Array(W * H).fill(1)));
    await ready(el);
    const lut = colormapLUT("viridis");
    // Uint8ClampedArray rounds half to even, so build the expectation the same way
    const top = Uint8ClampedArray.from([0, 1, 2], (k) => 0.5 * RGB[k] + 0.5 * lut[255 * 3 + k]);
    expect(px(ctx().lastPut.data, 0)).toEqual([...top, 255]);
    model.pySet("heatmap", new DataView(new ArrayBuffer(0)));
    model.pySet("image", fakePng(W, H, [1, 2, 3]));
    await ready(el);
    expect(px(ctx().lastPut.data, 5)).toEqual([1, 2, 3, 255]);
    expect(stubs.createImageBitmap).toHaveBeenCalledTimes(2);
  });

  it("draws only the newest image when decodes finish out of order", async () => {
    const { el, model, ctx } = await mount({ heatmap: new DataView(new ArrayBuffer(0)) });
    await ready(el);
    const gates = [];
    stubs.decodeGate = (bitmap) => new Promise((resolve) => gates.push({ bitmap, resolve }));
    model.pySet("image", fakePng(W, H, [10, 10, 10])); // older
    model.pySet("image", fakePng(W, H, [20, 20, 20])); // newer
    await vi.waitFor(() => expect(gates.length).toBe(2));
    model.pySet("alpha", 0.9); // a recolour while decoding must not draw the stale image
    await new Promise((r) => setTimeout(r, 10));
    expect(el.dataset.ready).toBe("false");
    expect(el.dataset.draws).toBe("1");
    gates[1].resolve(); // newer finishes first
    await ready(el);
    expect(px(ctx().lastPut.data, 0)).toEqual([20, 20, 20, 255]);
    const drawsBefore = el.dataset.draws;
    gates[0].resolve(); // the stale one arrives late and must be ignored
    await new Promise((r) => setTimeout(r, 10));
    expect(px(ctx().lastPut.data, 0)).toEqual([20, 20, 20, 255]);
    expect(el.dataset.draws).toBe(drawsBefore);
    expect(el.dataset.ready).toBe("true");
  });

  it("reports a heatmap whose size does not match the image", async () => {
    const { el, ctx } = await mount({ heatmap: floatView([0.5, 0.5, 0.5]) });
    await ready(el);
    expect(px(ctx().lastPut.data, 0)).toEqual([...RGB, 255]);
    expect(el.querySelector(".xw-status").textContent).toMatch(/heatmap has 3 values/);
  });

  it("reports an undecodable image and still becomes ready", async () => {
    const { el } = await mount({ image: new DataView(new Uint8Array([1, 2]).buffer) });
    await ready(el);
    expect(el.querySelector(".xw-status").textContent).toMatch(/could not decode image/);
  });

  it("updates title, display width and pixelated from the model", async () => {
    const { el, model, canvas } = await mount();
    await ready(el);
    model.pySet("title", "");
    expect(el.querySelector(".xw-title").hidden).toBe(true);
    model.pySet("display_width", 320);
    expect(canvas.style.width).toBe("320px");
    model.pySet("pixelated", false);
    expect(canvas.style.imageRendering).toBe("auto");
  });
});

describe("heatmap view: controls", () => {
  it("renders labelled controls reflecting the model", async () => {
    const { el } = await mount({ alpha: 0.3, threshold: 0.7, colormap: "magma", mode: "kept" });
    await ready(el);
    const alpha = el.querySelector("input.xw-alpha");
    const threshold = el.querySelector("input.xw-threshold");
    expect(alpha.type).toBe("range");
    expect([alpha.min, alpha.max, alpha.step]).toEqual(["0", "1", "0.01"]);
    expect(Number(alpha.value)).toBe(0.3);
    expect(Number(threshold.value)).toBe(0.7);
    const colormap = el.querySelector("select.xw-colormap");
    expect([...colormap.options].map((o) => o.value)).toEqual(COLORMAP_NAMES);
    expect(colormap.value).toBe("magma");
    const mode = el.querySelector("select.xw-mode");
    expect([...mode.options].map((o) => [o.value, o.textContent])).toEqual([
      ["overlay", "overlay"],
      ["contour", "contour lines"],
      ["dim", "dim the rest"],
      ["kept", "kept pixels only"],
    ]);
    expect(mode.value).toBe("kept");
    expect(alpha.disabled).toBe(true); // "kept" does not use alpha
    const labels = [...el.querySelectorAll(".xw-controls label")];
    expect(labels.map((l) => l.textContent)).toEqual(["alpha", "threshold", "colormap", "mode"]);
    for (const l of labels) expect(el.querySelector(`#${l.htmlFor}`)).not.toBeNull();
    const readouts = [...el.querySelectorAll(".xw-readout")].map((r) => r.textContent);
    expect(readouts.slice(0, 2)).toEqual(["0.30", "0.70"]);
  });

  it("moving the alpha slider sets the model and saves", async () => {
    const { el, model, ctx } = await mount();
    await ready(el);
    const alpha = el.querySelector("input.xw-alpha");
    alpha.value = "0.8";
    alpha.dispatchEvent(new Event("input", { bubbles: true }));
    expect(model.calls.set).toEqual([["alpha", 0.8]]);
    expect(model.calls.save_changes).toBe(1);
    await ready(el);
    expect(el.dataset.draws).toBe("2");
    expect(ctx().lastPut.data).toEqual(expected(traits({ alpha: 0.8 })));
    expect(el.querySelectorAll(".xw-readout")[0].textContent).toBe("0.80");
  });

  it("threshold slider and selects set their traits", async () => {
    const { el, model } = await mount();
    await ready(el);
    const threshold = el.querySelector("input.xw-threshold");
    threshold.value = "0.25";
    threshold.dispatchEvent(new Event("input"));
    const colormap = el.querySelector("select.xw-colormap");
    colormap.value = "gray";
    colormap.dispatchEvent(new Event("change"));
    const mode = el.querySelector("select.xw-mode");
    mode.value = "kept";
    mode.dispatchEvent(new Event("change"));
    expect(model.calls.set).toEqual([
      ["threshold", 0.25],
      ["colormap", "gray"],
      ["mode", "kept"],
    ]);
    expect(model.calls.save_changes).toBe(3);
  });

  it("controls follow changes made from Python", async () => {
    const { el, model } = await mount();
    await ready(el);
    model.pySet("alpha", 0.25);
    model.pySet("colormap", "inferno");
    model.pySet("mode", "kept");
    expect(Number(el.querySelector("input.xw-alpha").value)).toBe(0.25);
    expect(el.querySelectorAll(".xw-readout")[0].textContent).toBe("0.25");
    expect(el.querySelector("select.xw-colormap").value).toBe("inferno");
    expect(el.querySelector("select.xw-mode").value).toBe("kept");
    expect(model.calls.set).toEqual([]); // reflecting a change does not echo it back
  });

  it("show_controls toggles the controls", async () => {
    const { el, model } = await mount({ show_controls: false });
    await ready(el);
    expect(el.querySelector(".xw-alpha")).toBeNull();
    model.pySet("show_controls", true);
    expect(el.querySelector("input.xw-alpha")).not.toBeNull();
    model.pySet("show_controls", false);
    expect(el.querySelector(".xw-alpha")).toBeNull();
  });

  it("show_legend hides and shows the colour bar", async () => {
    const { el, model } = await mount({ show_legend: false });
    await ready(el);
    expect(el.querySelector(".xw-legend").hidden).toBe(true);
    model.pySet("show_legend", true);
    expect(el.querySelector(".xw-legend").hidden).toBe(false);
  });
});

describe("heatmap view: modes, legend, title and note", () => {
  it("draws the contour and dim blends and says so in the legend", async () => {
    const { el, model, ctx } = await mount({ mode: "contour", threshold: 0.3 });
    await ready(el);
    expect(ctx().lastPut.data).toEqual(expected(traits({ mode: "contour", threshold: 0.3 })));
    const ticks = () => [...el.querySelectorAll(".xw-tick")].map((t) => t.textContent);
    expect(ticks()).toEqual(["0.3", "0.5", "0.75"]); // the contour levels
    expect(el.querySelector(".xw-legend").dataset.mode).toBe("contour");
    expect(el.querySelector("input.xw-alpha").disabled).toBe(true);
    const contourBar = stubs.contextOf(el.querySelector("canvas.xw-colorbar")).lastPut.data;
    model.pySet("mode", "dim");
    await ready(el);
    expect(ctx().lastPut.data).toEqual(expected(traits({ mode: "dim", threshold: 0.3 })));
    // RGB (200, 100, 50) below the threshold: darkened by alpha 0.5; above: untouched
    expect(px(ctx().lastPut.data, 0)).toEqual([100, 50, 25, 255]);
    expect(px(ctx().lastPut.data, 7)).toEqual([...RGB, 255]);
    expect(ticks()).toEqual(["0", "0.3", "1"]);
    expect(el.querySelector("input.xw-alpha").disabled).toBe(false);
    expect(stubs.contextOf(el.querySelector("canvas.xw-colorbar")).lastPut.data).not.toEqual(contourBar);
    model.pySet("threshold", 0.6);
    await ready(el);
    expect(ticks()).toEqual(["0", "0.6", "1"]);
  });

  it("splits the title into phrases that do not wrap inside", async () => {
    const { el, model } = await mount({ title: "I-GOS · Red-winged Blackbird (class 7)" });
    await ready(el);
    const title = el.querySelector(".xw-title");
    const phrases = [...title.querySelectorAll(".xw-phrase")].map((p) => p.textContent);
    expect(phrases).toEqual(["I-GOS", "Red-winged Blackbird (class 7)"]);
    expect(title.textContent).toBe("I-GOS · Red-winged Blackbird (class 7)");
    expect(title.title).toBe(title.textContent); // the whole title as a tooltip, when a phrase is cut
    model.pySet("title", "cat");
    expect([...title.querySelectorAll(".xw-phrase")].map((p) => p.textContent)).toEqual(["cat"]);
  });

  it("shows the note from Python and hides it when empty", async () => {
    const { el, model } = await mount();
    await ready(el);
    const note = el.querySelector(".xw-note");
    expect(note.hidden).toBe(true);
    model.pySet("note", "(3, 1): beak (evidence): color red, shape hooked");
    expect(note.hidden).toBe(false);
    expect(note.textContent).toBe("(3, 1): beak (evidence): color red, shape hooked");
    model.pySet("note", "");
    expect(note.hidden).toBe(true);
  });
});

describe("heatmap view: mouse", () => {
  /** Canvas displayed at 200x100 CSS px at (10, 20), with a 1px border. */
  function place(canvas) {
    canvas.getBoundingClientRect = () => ({
      left: 10, top: 20, width: 202, height: 102, right: 212, bottom: 122, x: 10, y: 20,
    });
    Object.defineProperty(canvas, "clientLeft", { value: 1 });
    Object.defineProperty(canvas, "clientTop", { value: 1 });
  }

  it("a click sends the image pixel under the mouse", async () => {
    const { el, model, canvas } = await mount();
    await ready(el);
    place(canvas);
    // content box starts at (11, 21) and is 200x100 for a 4x2 image: 50 CSS px per pixel
    canvas.dispatchEvent(new MouseEvent("click", { clientX: 11 + 150, clientY: 21 + 60 }));
    expect(model.calls.send).toEqual([{ event: "click", x: 3, y: 1 }]);
    canvas.dispatchEvent(new MouseEvent("click", { clientX: 11 + 49, clientY: 21 + 49 }));
    expect(model.calls.send[1]).toEqual({ event: "click", x: 0, y: 0 });
    canvas.dispatchEvent(new MouseEvent("click", { clientX: 5, clientY: 50 }));
    expect(model.calls.send.length).toBe(2); // outside: nothing sent
  });

  it("mousemove shows the heat value and mouseleave clears it", async () => {
    const { el, canvas } = await mount();
    await ready(el);
    place(canvas);
    const status = el.querySelector(".xw-status");
    canvas.dispatchEvent(new MouseEvent("mousemove", { clientX: 11 + 125, clientY: 21 + 75 }));
    expect(status.textContent).toBe("x=2, y=1, value=0.800");
    canvas.dispatchEvent(new MouseEvent("mouseleave"));
    expect(status.textContent).toBe("");
  });

  it("shows status text sent from Python", async () => {
    const { el, model } = await mount();
    await ready(el);
    model.emit("msg:custom", { event: "status", text: "python got click" }, []);
    expect(el.querySelector(".xw-status").textContent).toBe("python got click");
  });
});

describe("heatmap view: cleanup", () => {
  it("removes every model listener and DOM listener it added", async () => {
    // happy-dom's EventTarget may differ from globalThis.EventTarget: find the real owner
    let proto = Object.getPrototypeOf(document.createElement("div"));
    while (!Object.prototype.hasOwnProperty.call(proto, "addEventListener")) {
      proto = Object.getPrototypeOf(proto);
    }
    const add = vi.spyOn(proto, "addEventListener");
    const remove = vi.spyOn(proto, "removeEventListener");
    const { el, model, cleanup, canvas } = await mount();
    await ready(el);
    model.pySet("show_controls", false); // rebuilding controls must not leak listeners
    model.pySet("show_controls", true);
    const added = add.mock.calls.map((c, i) => [add.mock.contexts[i], c[0], c[1]]);
    expect(model.calls.on.length).toBeGreaterThanOrEqual(12);
    expect(model.listenerCount()).toBe(model.calls.on.length);
    expect(typeof cleanup).toBe("function");
    cleanup();
    expect(model.calls.off.length).toBe(model.calls.on.length);
    for (const [event, fn] of model.calls.on) {
      expect(model.calls.off).toContainEqual([event, fn]);
    }
    expect(model.listenerCount()).toBe(0);
    // every addEventListener has a matching removeEventListener on the same target
    const removed = remove.mock.calls.map((c, i) => [remove.mock.contexts[i], c[0], c[1]]);
    for (const [target, type, fn] of added) {
      expect(removed.some(([t, ty, f]) => t === target && ty === type && f === fn)).toBe(true);
    }
    expect(added.length).toBeGreaterThanOrEqual(3);
    // and the view no longer reacts
    canvas.dispatchEvent(new MouseEvent("click", { clientX: 1, clientY: 1 }));
    expect(model.calls.send).toEqual([]);
  });
});
