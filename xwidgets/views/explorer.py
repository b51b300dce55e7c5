"""The Explorer base: everything the explorers have in common, so each one is its layout and its render.

An explorer is a ``VBox`` that runs a method's kernel off the kernel's message loop and draws its result. The base
owns:

- **jobs**: one :class:`~xwidgets.core.runner.Runner`, a token per run so a stale run's callbacks are dropped,
  :meth:`start`, :meth:`run`, :meth:`cancel`, :meth:`clear`, :meth:`wait` and :meth:`close`; short side jobs that
  must not cancel the run (one forward pass to score what a user edits) go to named lanes (:meth:`side`,
  :meth:`wait_side`);
- **progress**: a bar with a cancel button and a status line with the stage message and an ETA; on an error the
  status shows it (escaped) and the bar turns red; after a cancel the bar and the status go back to the result
  that is shown;
- **one state → view update**: :attr:`shown` holds the value drawn now *and the settings it was computed with*;
  every label is drawn by :meth:`render` from it, and a cancel puts the controls back to those settings, so no
  label shows a value from an older state, nor a control one the picture does not have;
- **step caching**: :attr:`steps` (a :class:`~xwidgets.core.steps.StepCache`, passed to kernels as ``cache=``)
  and :meth:`cached` keep the last result of each named step by key (the keys come from a method spec's
  :meth:`~xwidgets.core.methods.MethodSpec.cache_key`), so a change to a later step reuses earlier ones;
- **the target picker**: :meth:`target_picker` builds the top-k class buttons of a classifier;
- **figures**: :meth:`figure` draws what is shown with :meth:`draw_figure` and saves it when given a path;
- **wherever the notebook is opened**: a :class:`~xwidgets.views.kernel_note.KernelNote` under the progress bar
  says, where no kernel answers (a static HTML copy), which controls still work and which need a kernel; and the
  display data carries a static picture of the figure (:class:`~xwidgets.views.fallback.StaticFallback`, redrawn
  by :meth:`wait`), which an HTML export shows where the widget cannot load (:mod:`xwidgets.views.static_html`).

Status lines are built with :func:`phrase_line`, so that a line wraps only between its "·"-separated phrases.

A subclass builds its widgets after ``super().__init__()``, sets ``self.children``, registers its parameter
controls with :meth:`watch`, and implements :meth:`run` (calling :meth:`start`), :meth:`render` and
:meth:`draw_figure`; it may override :meth:`show_partial` for streamed states.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import ipywidgets as widgets
import torch

from ..core.cost import format_seconds
from ..core.errors import XWidgetsError
from ..core.runner import Progress, Runner
from ..core.steps import StepCache
from .fallback import StaticFallback, figure_png
from .kernel_note import KernelNote

__all__ = ["Explorer", "Shown", "close_widgets", "phrase_line"]

#: The least fraction done before an ETA is shown (earlier estimates swing too much to be useful).
ETA_FROM = 0.05


def phrase_line(*phrases: str, escape: bool = True) -> str:
    """HTML of ``phrases`` joined by " · ", each kept on one line (``white-space: nowrap``), so the line wraps only
    between phrases, never inside one. Empty phrases are left out; ``escape=False`` takes phrases that are HTML
    already. For the ``value`` of an ipywidgets ``HTML`` (or ``Label``-like HTML) status line or title."""
    kept = [phrase if not escape else html.escape(phrase) for phrase in phrases if phrase]
    return " · ".join(f'<span class="xw-phrase" style="white-space:nowrap">{phrase}</span>' for phrase in kept)


class Shown:
    """What an explorer draws now: ``value`` (a result, or a tuple of them) and ``settings``, the parameters and
    choices it was computed with (method, target, parameter values). Labels read both from here."""

    def __init__(self, value: Any, settings: Mapping[str, Any]):
        self.value = value
        self.settings = dict(settings)

    def __repr__(self) -> str:
        return f"Shown({type(self.value).__name__}, {self.settings})"


class Explorer(StaticFallback, widgets.VBox):
    """Base class of every explorer (see the module docstring).

    Attributes:
        runner: the explorer's :class:`~xwidgets.core.runner.Runner`.
        progress, cancel_button, status: the progress bar, its cancel button and the status line.
        kernel_note: the :class:`~xwidgets.views.kernel_note.KernelNote`, invisible while a kernel answers
            (``progress_box`` holds the four).
        shown: the :class:`Shown` value drawn now, or None before the first run ends.
        error: the error of the last run, or None.
    """

    #: Seconds between two streamed states drawn while a run goes on.
    stream_interval = 0.1
    #: The name of the work in status lines ("I-GOS", "the concept space").
    work_name = "the explanation"
    #: The controls that run in the browser alone, so keep working in a static HTML copy (named by the kernel note).
    live_controls = "colormap, alpha, threshold and hover"

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.runner = Runner(stream_interval=self.stream_interval)
        self.shown: Shown | None = None
        self.error: BaseException | None = None
        self._token = 0
        self._done = threading.Event()
        self._done.set()
        self._ending = threading.Lock()  # a run's end and a newer run's start never interleave (see _finish)
        self._drawing = threading.RLock()  # one render at a time: a stale one never draws over a newer one
        self._started = 0.0
        self._quiet_depth = 0
        self.steps = StepCache()
        self._watched: dict[str, widgets.Widget] = {}
        self._lanes: dict[str, Runner] = {}
        self._static_error: BaseException | None = None
        self._static_shown: Shown | None = None
        self.progress = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, layout=widgets.Layout(width="256px"))
        self.progress.add_class("xw-progress")
        self.cancel_button = widgets.Button(
            description="cancel",
            icon="stop",
            disabled=True,
            tooltip="stop the run; the result shown stays",
            layout=widgets.Layout(width="auto", min_width="90px"),
        )
        self.cancel_button.add_class("xw-cancel")
        self.cancel_button.on_click(lambda _: self.cancel())
        self.status = widgets.HTML("")
        self.status.add_class("xw-run-status")
        self.kernel_note = KernelNote(self.kernel_note_text())
        self.progress_box = widgets.VBox(
            [widgets.HBox([self.progress, self.cancel_button]), self.status, self.kernel_note]
        )

    # --------------------------------------------------------------------------------------- controls
    def watch(self, controls: Mapping[str, widgets.Widget], on_change: Callable[[], Any] | None = None) -> None:
        """Register parameter controls: a change runs ``on_change`` (default :meth:`run`), except while the
        explorer itself sets them (:meth:`quietly`); a cancel puts them back to the shown settings."""
        callback = on_change or self.run
        for name, control in controls.items():
            self._watched[name] = control
            control.observe(lambda change: None if self._quiet_depth else callback(), names="value")

    def unwatch(self, names: list[str]) -> None:
        """Forget controls registered with :meth:`watch` (the caller closes them)."""
        for name in names:
            self._watched.pop(name, None)

    @contextmanager
    def quietly(self) -> Iterator[None]:
        """While inside, changes to watched controls start no run (the explorer is setting them itself)."""
        self._quiet_depth += 1
        try:
            yield
        finally:
            self._quiet_depth -= 1

    def set_controls(self, values: Mapping[str, Any]) -> None:
        """Set watched controls to ``values`` without starting a run (names not watched are ignored)."""
        with self.quietly():
            for name, value in values.items():
                control = self._watched.get(name)
                if control is not None and control.value != value:
                    control.value = value

    # ------------------------------------------------------------------------------------------- jobs
    @property
    def running(self) -> bool:
        """Whether a run is going on."""
        return not self._done.is_set()

    def run(self) -> None:
        """Start the explorer's computation with its current settings (a running one is cancelled)."""
        raise NotImplementedError

    def start(self, work: Callable[..., Any], settings: Mapping[str, Any], *, message: str = "") -> int:
        """Run ``work(progress)`` on the runner (cancelling the stale run) and return the run's token.

        ``settings`` are what the result will be drawn with (:attr:`Shown.settings`). Streamed states go to
        :meth:`show_partial`; the value ``work`` returns becomes :attr:`shown` and is drawn by :meth:`render`; an
        error is shown in the status line and kept in :attr:`error` (re-raised by :meth:`wait`).
        """
        with self._ending:
            self._token += 1
            token = self._token
            self._done.clear()
        self.error = None
        self._started = time.monotonic()
        self.progress.value, self.progress.bar_style = 0.0, ""
        self.cancel_button.disabled = False
        self.status.value = phrase_line(message or f"computing {self.work_name}…")
        settings = dict(settings)
        self.runner.submit(
            work,
            on_progress=lambda f, m: self._on_progress(token, f, m),
            on_partial=lambda state: self._on_partial(token, state, settings),
            on_done=lambda value: self._on_done(token, value, settings),
            on_error=lambda error: self._on_error(token, error),
        )
        return token

    def cancel(self) -> None:
        """Stop the running computation. The result shown stays, and the controls, the progress bar and the
        status go back to its settings."""
        if self._done.is_set():
            return
        self._token += 1
        self.runner.cancel()
        self.cancel_button.disabled = True
        if self.shown is not None:
            self.set_controls(self.shown.settings)
            self.progress.value, self.progress.bar_style = 1.0, "success"
            self.status.value = phrase_line("cancelled", "showing the last finished result")
            with self._drawing:
                self.render()
        else:
            self.progress.value, self.progress.bar_style = 0.0, "warning"
            self.status.value = "cancelled"
        self._done.set()

    def clear(self, message: str = "") -> None:
        """Forget the shown result when the controls have left its settings and no run follows (an explorer whose
        long runs wait for a button): cancel a running computation, reset the progress bar, put ``message`` (HTML)
        in the status line and :meth:`render` the empty state (:attr:`shown` is None)."""
        self._token += 1
        self.runner.cancel()
        self.shown, self.error = None, None
        self.cancel_button.disabled = True
        self.progress.value, self.progress.bar_style = 0.0, ""
        self.status.value = message
        self.render()
        self._done.set()

    def side(self, lane: str, work: Callable[[Progress], Any], on_done: Callable[[Any], Any]) -> None:
        """Run a short ``work(progress)`` on the side lane ``lane`` (its own runner, started on first use): it
        neither cancels the main run nor is cancelled by it, and a newer job on the same lane cancels the stale one
        (``work`` waits for a model with ``progress.holding(model.lock)``, so a stale one queued behind the main
        run ends at once). ``on_done(value)`` gets its value on the worker thread (it checks there that the value
        still matches what the explorer shows); an error goes to the status line."""
        runner = self._lanes.setdefault(lane, Runner())
        runner.submit(work, on_done=on_done, on_error=self._show_error)

    def wait_side(self, lane: str, timeout: float | None = 30.0) -> Any:
        """Block until the last job of side lane ``lane`` has ended and return its value (None when the lane never
        ran); re-raises its error."""
        runner = self._lanes.get(lane)
        return None if runner is None or runner.job is None else runner.job.result(timeout)

    def wait(self, timeout: float | None = None) -> Explorer:
        """Block until the current run has ended (for scripts and notebooks executed headless); by default as long
        as it takes, else at most ``timeout`` seconds. Re-raises the run's error.

        An interrupt while waiting (the notebook's stop button, Ctrl-C) stops the wait *and cancels the run*, as
        it stops a headless call: the explorer goes back to the last finished result (:meth:`cancel`), stays
        usable, and the ``KeyboardInterrupt`` goes on to the caller."""
        try:
            finished = self._done.wait(timeout)
        except KeyboardInterrupt:
            self.cancel()
            raise
        if not finished:
            raise XWidgetsError(f"the run of {self.work_name} did not finish within timeout={timeout} s")
        if self.error is not None:
            raise self.error
        if self.displayed and self.shown is not self._static_shown:  # redraw the picture once per result
            self._static_shown = self.shown
            self.refresh_static()
        return self

    def _is_current(self, token: int) -> bool:
        return token == self._token

    def _on_progress(self, token: int, fraction: float, message: str) -> None:
        if not self._is_current(token):
            return
        self.progress.value = fraction
        elapsed = time.monotonic() - self._started
        eta = f"{format_seconds(elapsed * (1 - fraction) / fraction)} left" if fraction >= ETA_FROM else ""
        self.status.value = phrase_line(message or f"computing {self.work_name}", f"{fraction:.0%}", eta)

    def _on_partial(self, token: int, state: Any, settings: dict) -> None:
        if self._is_current(token):
            self.show_partial(state, settings)

    def _on_done(self, token: int, value: Any, settings: dict) -> None:
        with self._drawing:  # a render of an older result, gone stale while drawn, ends before this one starts
            if not self._is_current(token):
                return
            self.shown = Shown(value, settings)
            self.progress.value, self.progress.bar_style = 1.0, "success"
            self.cancel_button.disabled = True
            self.status.value = ""
            self.render()
        self._finish(token)

    def _on_error(self, token: int, error: BaseException) -> None:
        if not self._is_current(token):
            return
        self.error = error
        self.progress.bar_style = "danger"
        self.cancel_button.disabled = True
        self._show_error(error)
        self._finish(token)

    def _finish(self, token: int) -> None:
        """Mark run ``token`` ended, unless a newer run started while it was being drawn (a render runs on the
        worker thread and can take a while): then :meth:`wait` goes on waiting for the newer run, which shows the
        latest request."""
        with self._ending:
            if self._is_current(token):
                self._done.set()

    def _show_error(self, error: BaseException) -> None:
        self.status.value = (
            f"<span style='color:#cf222e'>{html.escape(type(error).__name__)}: {html.escape(str(error))}</span>"
        )

    # ------------------------------------------------------------------------------------------ state
    def show_partial(self, state: Any, settings: dict) -> None:
        """Draw an intermediate state streamed by the running kernel (default: nothing)."""

    def render(self) -> None:
        """Draw every view and label from :attr:`shown` (and the user's current selections in it)."""
        raise NotImplementedError

    @property
    def current(self) -> Shown:
        """:attr:`shown`, for code that runs only once a result exists; raises :class:`XWidgetsError` before."""
        if self.shown is None:
            raise XWidgetsError(f"no result yet: no finished result of {self.work_name} (call wait() first)")
        return self.shown

    def cached(self, step: str, key: tuple, compute: Callable[[], Any]) -> Any:
        """``compute()``'s value for ``step`` under ``key``, reused while the key is unchanged (one entry per
        step, in :attr:`steps`, a :class:`~xwidgets.core.steps.StepCache` that kernels taking ``cache=`` share).
        Safe to call from the worker thread."""
        return self.steps.get(step, key, compute)

    # ----------------------------------------------------------------------------------------- target
    def target_picker(
        self,
        model: Any,
        pixels: torch.Tensor,
        target: int | None,
        *,
        top: int = 5,
        label: Callable[[int], str] | None = None,
    ) -> widgets.ToggleButtons:
        """Buttons of a classifier's ``top`` classes on ``pixels`` ``[1, 3, H, W]``, each with its probability,
        plus ``target`` when it is not among them; the selected one is ``target`` (default the top-1)."""
        with torch.no_grad(), model.frozen():
            output = model.forward(model.normalize(pixels))
        probabilities = torch.softmax(output.float(), dim=1)[0].cpu()
        classes = torch.topk(probabilities, min(top, probabilities.shape[0])).indices.tolist()
        if target is not None and target not in classes:
            classes.append(target)
        name = label or (
            lambda c: model.labels[c] if model.labels is not None and c < len(model.labels) else f"class {c}"
        )
        picker = widgets.ToggleButtons(
            options=[(f"{name(c)}  p = {float(probabilities[c]):.3f}", c) for c in classes],
            value=classes[0] if target is None else target,
            description="target",
            style={"button_width": "auto"},
        )
        picker.add_class("xw-target")
        return picker

    # ----------------------------------------------------------------------------------------- figure
    def figure(self, path: Any = None, **style: Any) -> Any:
        """A matplotlib figure of what the explorer shows now, drawn with :attr:`shown`'s settings and the views'
        current style; with ``path`` (``.pdf``, ``.svg`` or ``.png``) it is also saved there."""
        if self.shown is None:
            raise XWidgetsError(f"nothing to draw yet: no finished result of {self.work_name} (call wait() first)")
        figure = self.draw_figure(**style)
        if path is not None:
            from ..figures import save_figure

            save_figure(figure, path)
        return figure

    def draw_figure(self, **style: Any) -> Any:
        """The matplotlib figure of :attr:`shown` (subclasses implement it)."""
        raise NotImplementedError

    # ----------------------------------------------------------------------------- static copies
    def kernel_note_text(self) -> str:
        """What the kernel note says where no kernel answers (a static HTML copy, a dead kernel)."""
        return (
            f"Static copy: no kernel is answering. The {self.live_controls} work here; the controls that re-run "
            f"{self.work_name} need a running kernel (open the notebook in Jupyter and run it)."
        )

    def static_png(self) -> bytes | None:
        """PNG of :meth:`draw_figure` (the display data's static picture), or None before a result is shown or
        when the figure cannot be drawn (:meth:`static_caption` then says why)."""
        self._static_error = None
        if self.shown is None:
            return None
        try:
            return figure_png(self.draw_figure())
        except Exception as error:  # a static picture must never break the live widget's display
            self._static_error = error
            return None

    def static_caption(self) -> str:
        """The caption of the static picture: what it shows, or why there is none."""
        name = type(self).__name__
        if self.shown is None:
            return f"{name}: {self.work_name} was still running when this page was saved; run the notebook to see it."
        error = getattr(self, "_static_error", None)
        if error is not None:
            return f"{name}: no static picture ({type(error).__name__}: {error})."
        return (
            f"A static picture of the {name}: the interactive widget did not load here "
            "(its JavaScript comes from a CDN)."
        )

    # ------------------------------------------------------------------------------------------ close
    def close(self) -> None:
        """Cancel the run, wait for its thread, and close every widget the explorer holds (also those of a
        half-built explorer, which the garbage collector closes). A run still ending after that finds its token
        stale, so its callbacks never touch the closed widgets."""
        self._token = getattr(self, "_token", 0) + 1
        for runner in (getattr(self, "runner", None), *getattr(self, "_lanes", {}).values()):
            if runner is not None:
                runner.close()
        if hasattr(self, "_done"):
            self._done.set()  # a wait() after close() returns instead of waiting for a run that was cancelled
        seen: set[int] = {id(self)}
        for value in list(vars(self).values()):
            _close_all(value, seen)
        _close_all(self.children, seen)
        _close_all([getattr(self, name, None) for name in self.keys if name != "children"], seen)
        super().close()


def close_widgets(*values: Any) -> None:
    """Close each widget of ``values`` and every widget it holds, for an explorer that replaces widgets while it
    lives (a new chart, new controls, new buttons): see :func:`_close_all`."""
    _close_all(values, set())


def _close_all(value: Any, seen: set[int]) -> None:
    """Close ``value`` if it is a widget, and every widget it holds in its synced traits (box children, layout and
    style, bqplot marks, axes, scales and interaction), the items of lists, tuples and dicts included. Closing a
    widget leaves its layout and style alive (ipywidgets closes the one comm), so they are closed here too."""
    if id(value) in seen:
        return
    if isinstance(value, (list, tuple, set)):
        seen.add(id(value))
        for item in value:
            _close_all(item, seen)
        return
    if isinstance(value, dict):
        seen.add(id(value))
        for item in value.values():
            _close_all(item, seen)
        return
    if not isinstance(value, widgets.Widget):
        return
    seen.add(id(value))
    for name in value.keys:
        held = getattr(value, name, None)
        if isinstance(held, (list, tuple, dict, widgets.Widget)):
            _close_all(held, seen)
    value.close()
