"""Cached steps: a pipeline's intermediate results, reused while the parameters they depend on are unchanged.

A method whose spec declares ``steps`` (e.g. masks → regions → clusters) runs each step through a
:class:`StepCache` under the key :meth:`~xwidgets.core.methods.MethodSpec.cache_key` gives it, so re-clustering
does not recompute the masks. Kernels take an optional ``cache=`` (a :class:`StepCache`); an explorer passes its
own, so a slider that moves a late step reruns only that step.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any

__all__ = ["StepCache"]


class StepCache:
    """The last result of each named step, with the key it was computed under (one entry per step).

    Thread-safe for one writer at a time per step (an explorer's single worker thread).
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[Hashable, Any]] = {}
        self._lock = threading.Lock()
        self.hits: dict[str, int] = {}
        self.misses: dict[str, int] = {}

    def get(self, step: str, key: Hashable, compute: Callable[[], Any]) -> Any:
        """``compute()``'s value for ``step`` under ``key``; computed only when the step's stored key differs."""
        with self._lock:
            entry = self._entries.get(step)
        if entry is not None and entry[0] == key:
            self.hits[step] = self.hits.get(step, 0) + 1
            return entry[1]
        value = compute()
        with self._lock:
            self._entries[step] = (key, value)
            self.misses[step] = self.misses.get(step, 0) + 1
        return value

    def clear(self, step: str | None = None) -> None:
        """Forget one step's entry, or every entry."""
        with self._lock:
            if step is None:
                self._entries.clear()
            else:
                self._entries.pop(step, None)

    def __contains__(self, step: str) -> bool:
        return step in self._entries
