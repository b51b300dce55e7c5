import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import widget, { PING, PONG } from "../src/kernel_note.js";
import { createMockModel } from "./helpers.js";

const TEXT = "Static copy: the controls that re-run the method need a running kernel.";

function mount(overrides = {}) {
  const model = createMockModel({ text: TEXT, timeout_ms: 500, ...overrides });
  const el = document.createElement("div");
  document.body.appendChild(el);
  const cleanup = widget.render({ model, el });
  return { model, el, cleanup, note: () => el.querySelector(".xw-kernel-note-text") };
}

describe("kernel note", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => {
    vi.useRealTimers();
    document.body.replaceChildren();
  });

  it("pings the kernel once on render and is hidden while it waits", () => {
    const { model, el, note } = mount();
    expect(model.calls.send).toEqual([PING]);
    expect(note().hidden).toBe(true);
    expect(el.dataset.kernel).toBe("waiting");
    expect(el.dataset.ready).toBe("true");
  });

  it("stays hidden when the kernel answers in time", () => {
    const { model, el, note } = mount();
    model.emit("msg:custom", { event: PONG });
    vi.advanceTimersByTime(2000);
    expect(note().hidden).toBe(true);
    expect(el.dataset.kernel).toBe("live");
  });

  it("shows its text when no answer comes, and hides again on a late answer", () => {
    const { model, el, note } = mount();
    vi.advanceTimersByTime(499);
    expect(note().hidden).toBe(true);
    vi.advanceTimersByTime(1);
    expect(note().hidden).toBe(false);
    expect(note().textContent).toBe(TEXT);
    expect(el.dataset.kernel).toBe("none");
    model.emit("msg:custom", { event: PONG });
    expect(note().hidden).toBe(true);
    expect(el.dataset.kernel).toBe("live");
  });

  it("ignores other messages and follows text changes", () => {
    const { model, note } = mount();
    model.emit("msg:custom", { event: "click" });
    model.emit("msg:custom", null);
    vi.advanceTimersByTime(500);
    expect(note().hidden).toBe(false);
    model.pySet("text", "another note");
    expect(note().textContent).toBe("another note");
  });

  it("removes its listeners and its timer on cleanup", () => {
    const { model, note, cleanup } = mount();
    cleanup();
    expect(model.listenerCount()).toBe(0);
    vi.advanceTimersByTime(1000);
    expect(note().hidden).toBe(true);
  });
});
