"""KernelNote: a note, drawn by ``js/src/kernel_note.js``, that shows only where no kernel answers.

Every explorer holds one (the Explorer base puts it under the progress bar). In JupyterLab, Notebook 7 and Voilà
the kernel answers the note's ping at once and the note stays invisible; in a static HTML export (or with a dead
kernel) no answer comes, and the note says which controls still work there and which need a running kernel.
"""

from __future__ import annotations

import traitlets

from ._base import ViewWidget
from ._static import bundle
from ._traits import Int, Unicode, invalid_trait

__all__ = ["KernelNote"]


class KernelNote(ViewWidget):
    """A note shown only when the kernel does not answer within ``timeout_ms``.

    Args:
        text: what the note says when no kernel answers (plain text).
        timeout_ms: how long the browser waits for the kernel's answer, in milliseconds (100..60000).
    """

    _esm = bundle("kernel_note")

    text = Unicode("").tag(sync=True)
    timeout_ms = Int(2500).tag(sync=True)

    def __init__(self, text: str, *, timeout_ms: int = 2500):
        super().__init__(text=text, timeout_ms=timeout_ms)
        self.pings = 0
        self.on_msg(self._on_ping)

    def _on_ping(self, _widget: object, content: object, _buffers: list) -> None:
        """Answer the browser's ``{"event": "ping"}`` with ``{"event": "pong"}`` (other messages are ignored)."""
        if isinstance(content, dict) and content.get("event") == "ping":
            self.pings += 1
            self.send({"event": "pong"})

    @traitlets.validate("timeout_ms")
    def _check_timeout(self, proposal):
        if not 100 <= proposal["value"] <= 60000:
            raise invalid_trait("timeout_ms", proposal["value"], "a wait in milliseconds in [100, 60000]")
        return proposal["value"]
