"""The local engine: explain a run's pending shards in this process, on the model's device.

A ``torch.utils.data.DataLoader`` over :class:`~xwidgets.data.sources.PreparedImages` yields one batch per
pending shard, following the store's shard boundaries; with ``num_workers`` > 0 its worker processes decode the
next shards while the current one is explained. Each shard goes through :func:`~xwidgets.runs.records.explain_shard`
(which micro-batches inside the method's kernels) and is committed by the writer before the next one starts, so a
cancelled or killed run loses at most the shard in flight.

:class:`RunProgress` is what every engine reports to: it counts committed images and shows throughput.
"""

from __future__ import annotations

import time

from ..core.models import Model
from ..core.runner import Progress
from ..data import ImageSource
from .records import RunPlan, ShardResult, shard_items, shard_loader
from .store import RunWriter

__all__ = ["RunProgress", "run_local"]


class RunProgress:
    """A run's progress, counted in images as shards commit: ``"312 / 1,000 images · 14.2 images/s · 2 skipped"``.

    Args:
        progress: the call's :class:`~xwidgets.core.runner.Progress` (a bar, a callback, or silent); its
            cancellation stops the run between shards.
        total: the images in the source.
        done: the images of shards committed before this call (a resumed run).
        skipped: the unreadable images among them.
    """

    def __init__(self, progress: Progress, total: int, *, done: int = 0, skipped: int = 0):
        self.progress, self.total, self.done, self.skipped = progress, total, done, skipped
        self._fresh = 0
        self._start = time.perf_counter()

    def commit(self, writer: RunWriter, result: ShardResult) -> None:
        """Commit ``result`` to the store, count it, report, and stop here if the run was cancelled."""
        writer.write_shard(result.shard, result)
        self.committed(result)
        self.check()

    def committed(self, result: ShardResult) -> None:
        """Count a shard the writer committed and report the run's progress."""
        images = len(result.indices) + len(result.skipped)
        self.done += images
        self._fresh += images
        self.skipped += len(result.skipped)
        self.report(self.done / max(self.total, 1), self.message())

    def message(self) -> str:
        """``"312 / 1,000 images · 14.2 images/s · 2 skipped"`` (the rate of this call's images)."""
        elapsed = time.perf_counter() - self._start
        rate = self._fresh / elapsed if elapsed > 0 else 0.0
        return f"{self.done:,} / {self.total:,} images · {rate:.1f} images/s · {self.skipped:,} skipped"

    def stopped(self) -> str:
        """What a stopped run says: where it stopped and how to go on."""
        return f"run stopped at {self.done:,} / {self.total:,} images; call again to resume"

    def report(self, fraction: float, message: str = "") -> None:
        """Pass a report on to the call's progress."""
        self.progress.report(fraction, message)

    def check(self) -> None:
        """Raise :class:`~xwidgets.core.errors.Cancelled` once the run was cancelled."""
        self.progress.check()

    @property
    def cancelled(self) -> bool:
        return self.progress.cancelled


def run_local(
    writer: RunWriter,
    model: Model,
    source: ImageSource,
    plan: RunPlan,
    progress: RunProgress,
    *,
    num_workers: int = 0,
) -> None:
    """Explain and commit every pending shard of ``writer``'s store, in order, in this process.

    Args:
        writer: the open store.
        model: the ``xw.Classifier`` (on the device it runs on).
        source: the images.
        plan: what each shard computes.
        progress: counts and reports commits; cancelling it stops the run after the current shard's commit.
        num_workers: decoding processes of the DataLoader (0: decode in this process).
    """
    progress.check()
    shards = writer.pending_shards()
    indices = [writer.shard_indices(s) for s in shards]
    loader = shard_loader(source, model, indices, size=plan.size, num_workers=num_workers)
    for shard, batch in zip(shards, loader):
        items, truth = shard_items(source, model, batch)
        progress.commit(writer, plan.explain(model, batch, items, truth, shard=shard))
