"""The Ray engine: explain a run's pending shards in a Ray actor pool, one model replica per actor.

The driver (the process that called ``xw.explain_dataset(..., engine="ray")``) turns the pending shards into a
Ray Data dataset of one row per shard (``ray.data.from_items``: no read task, so every CPU goes to the actors)
and maps it with :class:`ShardWorker` in an actor pool: each actor receives the model and the source once (from
the object store), moves its replica to the GPU Ray gave it (or sets its torch threads on the CPU), and explains
whole shards with the kernel every engine shares (:func:`~xwidgets.runs.records.load_shard` and
:meth:`~xwidgets.runs.records.RunPlan.explain`). Results stream back to the driver as shards finish, in any
order, and the driver alone commits them (:meth:`~xwidgets.runs.local.RunProgress.commit`): the store has a
single writer however many actors run.

Faults: a dead actor is restarted (:data:`ACTOR_RESTARTS` times each) and its shard retried
(:data:`TASK_RETRIES` times), so the shard is recomputed and committed once, never lost. A cancel or an
interrupt in the driver stops consuming, shuts the actor pool down, and leaves a store that the next call
resumes. A killed driver leaves at most uncommitted rows, like the local engine.

Where Ray runs: ``address=None`` starts a local Ray on this machine with every CPU (and GPU) and shuts it down
at the end; ``address="auto"`` joins the cluster on this machine (``ray start --head``) or the one named by
``RAY_ADDRESS``; ``"host:6379"`` joins a cluster's head node and ``"ray://host:10001"`` goes through Ray Client.
On a cluster every node needs xwidgets and the same source paths (a shared file system or the toy world). A Ray
that is already initialised in this process is used as it is and left running.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import pickle
import socket
import warnings
from collections.abc import Generator, Iterator
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import torch

from ..core.errors import invalid
from ..core.models import Model
from ..data import ImageSource
from .local import RunProgress
from .records import RunPlan, ShardResult, load_shard
from .store import RunWriter

__all__ = ["run_ray", "require_ray", "ShardWorker", "ACTOR_RESTARTS", "TASK_RETRIES", "THREADS_PER_ACTOR"]

ACTOR_RESTARTS = 4
"""How often Ray restarts one actor of the pool that died (a crash, a lost node) before the run fails."""
TASK_RETRIES = 3
"""How often Ray retries the shard of an actor that died while explaining it, on the restarted actor."""
THREADS_PER_ACTOR = 1
"""Torch threads (and Ray CPUs) of each CPU actor when ``workers`` is None: one actor per CPU, since whole
images in parallel scale better than one image's operations on a small model."""
CONNECT_TIMEOUT = 5.0
"""Seconds to wait for a cluster's head node to accept a connection before saying the address is wrong."""
_INSTALL = "pip install 'xwidgets[ray]'"


def require_ray() -> Any:
    """Import and return ``ray`` (with Ray Data), or raise XWidgetsError saying how to install it."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise invalid("engine", "'ray', but Ray is not installed", f"Ray installed: {_INSTALL}") from None
    return ray


def run_ray(
    writer: RunWriter,
    model: Model,
    source: ImageSource,
    plan: RunPlan,
    progress: RunProgress,
    *,
    workers: int | None = None,
    address: str | None = None,
) -> None:
    """Explain and commit every pending shard of ``writer``'s store in a Ray actor pool.

    Args:
        writer: the open store; only this process writes it.
        model: the ``xw.Classifier``; each actor gets a replica (on its GPU where it has one).
        source: the images; it must pickle (every ``xw.data`` source does; a torch Dataset if its class does).
        plan: what each shard computes.
        progress: counts and reports commits; cancelling it (or Ctrl-C) stops the run after the current commit.
        workers: actors in the pool: default one per GPU where the cluster has GPUs, else one per CPU
            (:data:`THREADS_PER_ACTOR` torch threads each); a number given on the CPU shares the CPUs among them.
        address: None (start a local Ray), ``"auto"``, ``"host:port"`` or ``"ray://host:port"`` (see the module).
    """
    ray = require_ray()
    progress.check()
    shards = writer.pending_shards()
    if not shards:
        return
    started = _connect(ray, address)
    try:
        _explain_in_pool(ray, writer, model, source, plan, progress, shards, workers)
    finally:
        if started:
            ray.shutdown()


def _connect(ray: Any, address: str | None) -> bool:
    """Initialise Ray unless it is already; return whether this call started it (and must shut it down)."""
    if ray.is_initialized():
        _check_connected_to(ray, address)
        return False
    options = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
    if address is None:
        # A private Ray for this run, on this machine: its start-up notices (token authentication, the dashboard)
        # are not the user's business; errors still show.
        ray.init(address="local", num_cpus=_local_cpus(), **{**options, "logging_level": logging.ERROR})
        return True
    _check_reachable(address)
    try:
        ray.init(address=address, **options)
    except (ConnectionError, ValueError, RuntimeError) as error:
        if ray.is_initialized():
            ray.shutdown()
        raise invalid("address", repr(address), f"the address of a running Ray cluster ({error})") from None
    return True


def _local_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the platform has one, e.g. in a container)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _check_connected_to(ray: Any, address: str | None) -> None:
    """An ``address`` naming another cluster than the one this process is connected to is an error."""
    current = ray.get_runtime_context().gcs_address
    if address not in (None, "auto", current):
        raise invalid(
            "address",
            f"{address!r} while this process is connected to the Ray cluster at {current!r}",
            "None or 'auto' to use that cluster, or ray.shutdown() first to join another",
        )


def _check_reachable(address: str) -> None:
    """Fail fast on a ``host:port`` nobody listens on (``ray.init`` would retry it for minutes)."""
    if address == "auto":
        return
    parts = urlsplit(address if "://" in address else f"//{address}")
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None:
        raise invalid("address", repr(address), "'auto', 'host:port' or 'ray://host:port' of a Ray cluster")
    try:
        socket.create_connection((parts.hostname, port), timeout=CONNECT_TIMEOUT).close()
    except OSError as error:
        raise invalid(
            "address",
            f"{address!r}, where no Ray cluster answers ({error})",
            "the address of a running Ray cluster's head node ('ray start --head' prints it), or 'auto' on it",
        ) from None


def _explain_in_pool(
    ray: Any,
    writer: RunWriter,
    model: Model,
    source: ImageSource,
    plan: RunPlan,
    progress: RunProgress,
    shards: list[int],
    workers: int | None,
) -> None:
    """Map the pending shards through the actor pool and commit each result as it arrives."""
    actors, cpus, gpus = _pool_layout(ray, workers, len(shards))
    rows = [{"shard": s, "start": writer.shard_indices(s).start, "stop": writer.shard_indices(s).stop} for s in shards]
    with _quiet_ray_data(ray):
        dataset = ray.data.from_items(rows, override_num_blocks=len(rows))
        with warnings.catch_warnings():
            # Ray 2.60 takes max_restarts/max_task_retries only through **ray_remote_args, which it deprecates;
            # they are passed all the same so that recovery is bounded (Ray Data's default retries forever).
            warnings.filterwarnings("ignore", message=".*ray_remote_args.*")
            explained = dataset.map_batches(
                ShardWorker,
                fn_constructor_args=(ray.put(_shippable(model)), ray.put(source), plan, max(1, int(cpus))),
                batch_size=1,
                batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=actors),
                num_cpus=cpus,
                num_gpus=gpus,
                max_restarts=ACTOR_RESTARTS,
                max_task_retries=TASK_RETRIES,
            )
        results = _shard_results(ray, explained)
        try:
            for result in results:
                progress.commit(writer, result)
        finally:
            results.close()  # on a cancel or an interrupt too: the actor pool goes at once


def _shard_results(ray: Any, explained: Any) -> Generator[ShardResult, None, None]:
    """The ShardResults of a mapped dataset, as its shards finish. Closing this generator drops the dataset's
    bundle iterator, whose deletion shuts the streaming executor and its actors down. (``iter_rows`` would do
    that too but leaves Ray Data's block-prefetcher thread behind when stopped early, in Ray 2.60.)"""
    bundles = explained.iter_internal_ref_bundles()
    try:
        for bundle in bundles:
            for entry in bundle.blocks:
                block = ray.data.block.BlockAccessor.for_block(ray.get(entry.ref))
                for payload in block.to_numpy("result"):
                    yield pickle.loads(payload)
    finally:
        del bundles


def _pool_layout(ray: Any, workers: int | None, shards: int) -> tuple[int, float, float]:
    """``(actors, CPUs per actor, GPUs per actor)`` for the cluster: one actor per GPU where there are GPUs,
    else CPU actors; never more actors than shards (an actor costs seconds to start and a model replica)."""
    resources = ray.cluster_resources()
    gpus, cpus = int(resources.get("GPU", 0)), int(resources.get("CPU", 0))
    if gpus:
        if workers is not None and workers > gpus:
            raise invalid("workers", workers, f"at most the Ray cluster's {gpus} GPUs (one actor per GPU)")
        return min(workers or gpus, shards), 1, 1
    if cpus < 1:
        raise invalid("address", "a Ray cluster without CPUs or GPUs", "a cluster with at least one CPU")
    if workers is not None and workers > cpus:
        raise invalid("workers", workers, f"at most the Ray cluster's {cpus} CPUs (one CPU per actor at least)")
    threads = THREADS_PER_ACTOR if workers is None else max(1, min(cpus // workers, _largest_node_cpus(ray)))
    return min(workers or max(1, cpus // threads), shards), threads, 0


def _largest_node_cpus(ray: Any) -> int:
    """The CPUs of the cluster's largest live node: an actor cannot span nodes."""
    return max((int(node["Resources"].get("CPU", 0)) for node in ray.nodes() if node.get("Alive")), default=1)


def _shippable(model: Model) -> Model:
    """The model as actors receive it: on the CPU (an actor without the driver's GPU can load it); each actor
    moves its replica to its own device."""
    return model if model.device.type == "cpu" else copy.deepcopy(model).to("cpu")


@contextlib.contextmanager
def _quiet_ray_data(ray: Any) -> Iterator[None]:
    """No Ray Data progress bars, execution banners or info logs while the run's own bar reports."""
    context = ray.data.DataContext.get_current()
    saved = {name: getattr(context, name) for name in ("enable_progress_bars", "print_on_execution_start")}
    logger = logging.getLogger("ray.data")
    level = logger.level
    for name in saved:
        setattr(context, name, False)
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(context, name, value)
        logger.setLevel(level)


class ShardWorker:
    """One actor of the pool: a model replica that explains whole shards.

    Args:
        model_ref: the object-store reference of the (CPU) model; the replica moves to the actor's GPU if Ray
            gave it one.
        source_ref: the object-store reference of the source.
        plan: what each shard computes.
        threads: torch threads of a CPU actor (its Ray CPUs).
    """

    def __init__(self, model_ref: Any, source_ref: Any, plan: RunPlan, threads: int):
        import ray

        torch.set_num_threads(threads)
        self.model: Model = ray.get(model_ref)
        if ray.get_gpu_ids():
            self.model.to("cuda")
        self.source: ImageSource = ray.get(source_ref)
        self.plan = plan

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Explain the shards of a batch (columns ``shard``, ``start``, ``stop``) -> columns ``shard`` and
        ``result`` (each a pickled :class:`~xwidgets.runs.records.ShardResult`)."""
        shards, results = [], []
        for shard, start, stop in zip(batch["shard"], batch["start"], batch["stop"]):
            loaded = load_shard(self.source, self.model, range(int(start), int(stop)), size=self.plan.size)
            result = self.plan.explain(self.model, *loaded, shard=int(shard))
            shards.append(int(shard))
            results.append(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
        payload = np.empty(len(results), dtype=object)
        payload[:] = results
        return {"shard": np.asarray(shards, dtype=np.int64), "result": payload}
