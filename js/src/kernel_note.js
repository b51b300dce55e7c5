// anywidget view: a note that appears only where no kernel answers (a static HTML copy of the notebook, or a
// kernel that died). On render it pings the kernel with a custom message; the Python side answers "pong" at
// once. Without an answer within `timeout_ms`, the note says which controls still work (the JS-only ones)
// and which need a running kernel. A later answer hides it again.

/**
 * Synced traits (defined on the Python side, xwidgets/views/kernel_note.py).
 *
 * @typedef {object} KernelNoteTraits
 * @property {string} text the note shown when no kernel answers.
 * @property {number} timeout_ms how long to wait for the answer, in milliseconds (> 0).
 */

/** @typedef {import("@anywidget/types").AnyModel<KernelNoteTraits>} KernelNoteModel */

const CSS = `
.xw-kernel-note{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;font-size:12px;line-height:1.4;max-width:100%;box-sizing:border-box}
.xw-kernel-note .xw-kernel-note-text{margin:4px 0;padding:4px 8px;border:1px solid #d4a72c;border-radius:4px;background:#fff8c5;color:#3b2300;overflow-wrap:break-word}
.xw-kernel-note [hidden]{display:none!important}
.xw-phrase{unicode-bidi:isolate}
`;

/** The custom message the view sends, and the one the kernel answers with. */
export const PING = { event: "ping" };
export const PONG = "pong";

/**
 * Add the note's stylesheet to the document once. Every explorer holds a kernel note, so the sheet also isolates
 * the "·"-separated phrases of the explorers' status lines (`.xw-phrase`, Python's phrase_line): a right-to-left
 * override in a class name then reverses its own phrase, never the phrases after it.
 */
function addStyle() {
  if (document.getElementById("xw-kernel-note-style")) return;
  const style = document.createElement("style");
  style.id = "xw-kernel-note-style";
  style.textContent = CSS;
  document.head.appendChild(style);
}

/**
 * @param {{model: KernelNoteModel, el: HTMLElement}} context
 * @returns {() => void} cleanup
 */
function render({ model, el }) {
  addStyle();
  el.classList.add("xw-kernel-note");
  const note = document.createElement("div");
  note.className = "xw-kernel-note-text";
  note.hidden = true;
  note.textContent = model.get("text");
  el.replaceChildren(note);
  el.dataset.kernel = "waiting";

  /** @param {any} message */
  const onMessage = (message) => {
    if (!message || message.event !== PONG) return;
    clearTimeout(timer);
    note.hidden = true;
    el.dataset.kernel = "live";
  };
  const onText = () => {
    note.textContent = model.get("text");
  };
  model.on("msg:custom", onMessage);
  model.on("change:text", onText);
  const timer = setTimeout(() => {
    note.hidden = false;
    el.dataset.kernel = "none";
  }, Math.max(1, Number(model.get("timeout_ms")) || 1));
  model.send(PING);
  el.dataset.ready = "true";
  return () => {
    clearTimeout(timer);
    model.off("msg:custom", onMessage);
    model.off("change:text", onText);
  };
}

export default { render };
