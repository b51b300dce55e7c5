"""What a call or an explorer may leave behind, measured the same way by every reliability test.

:func:`snapshot` records the process's resident memory, its live threads, the live ipywidgets, and the torch hooks
registered on given modules and globally. :func:`left_behind` compares two snapshots (after a grace period in which
ending threads may finish) and names what is new: a test asserts it is empty.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time

import torch
import torch.nn.modules.module as torch_module

__all__ = ["Snapshot", "snapshot", "left_behind", "rss_bytes", "hook_count", "live_widget_ids", "assert_nothing_left"]

_HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
_GLOBAL_HOOKS = (
    "_global_forward_hooks",
    "_global_forward_pre_hooks",
    "_global_backward_hooks",
    "_global_backward_pre_hooks",
)


def rss_bytes() -> int:
    """Resident memory of this process in bytes (``/proc/self/statm``; 0 where there is no /proc)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def hook_count(*modules: torch.nn.Module) -> int:
    """Torch hooks registered on ``modules`` (and every submodule) plus the global module hooks; tensor hooks
    are not counted (they die with their tensors)."""
    count = sum(len(getattr(torch_module, name, {})) for name in _GLOBAL_HOOKS)
    for module in modules:
        for sub in module.modules():
            count += sum(len(getattr(sub, name, {})) for name in _HOOK_DICTS)
    return count


def live_widget_ids() -> set[str]:
    """Ids of the ipywidgets alive (not closed) in this process."""
    from ipywidgets.widgets.widget import _instances

    return set(_instances)


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """What the process holds at one moment (see :func:`snapshot`)."""

    rss: int
    threads: frozenset[int]
    thread_names: dict[int, str]
    widgets: frozenset[str]
    hooks: int


def snapshot(*modules: torch.nn.Module) -> Snapshot:
    """Record RSS, live threads, live widgets and the hooks on ``modules`` (torch modules, e.g. ``model.module``)."""
    threads = {thread.ident: thread.name for thread in threading.enumerate() if thread.ident is not None}
    return Snapshot(rss_bytes(), frozenset(threads), threads, frozenset(live_widget_ids()), hook_count(*modules))


def left_behind(before: Snapshot, *modules: torch.nn.Module, grace: float = 5.0) -> list[str]:
    """What is alive now that was not in ``before``: new threads (waiting up to ``grace`` seconds for ending
    threads to finish), new widgets, and more hooks on ``modules``. An empty list means nothing was left."""
    deadline = time.monotonic() + grace
    while True:
        now = snapshot(*modules)
        new_threads = {ident: now.thread_names[ident] for ident in now.threads - before.threads}
        if not new_threads or time.monotonic() >= deadline:
            break
        time.sleep(0.02)
    found = [f"thread {name!r}" for name in new_threads.values()]
    found += [f"widget {ident}" for ident in sorted(now.widgets - before.widgets)]
    if now.hooks > before.hooks:
        found.append(f"{now.hooks - before.hooks} torch hook(s)")
    return found


class assert_nothing_left:
    """``with assert_nothing_left(module):`` fails (AssertionError naming what) when the block leaves threads,
    widgets or hooks behind, whether the block returns or raises."""

    def __init__(self, *modules: torch.nn.Module, grace: float = 5.0):
        self.modules, self.grace = modules, grace

    def __enter__(self) -> Snapshot:
        self.before = snapshot(*self.modules)
        return self.before

    def __exit__(self, *exc: object) -> None:
        found = left_behind(self.before, *self.modules, grace=self.grace)
        assert not found, f"left behind: {', '.join(found)}"
