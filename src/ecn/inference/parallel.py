"""Prediction rows for a stream of inputs, the CPU-heavy half in worker processes
(``ecn predict --workers N``).

Why processes: parsing, the canonical step and the neighbour search are Python + C code that
holds the GIL for most of its time, so only processes use more cores. The work is split so that
what crosses a process boundary is small and pickled by value:

* the main process reads the inputs (:func:`~ecn.inference.inputs.iter_inputs`), cuts them
  into batches of ``batch_size`` items in input order, and sends each batch to the pool in
  chunks of ``chunk`` items;
* a worker (1 torch thread, Ctrl-C ignored: the main process decides) runs
  :func:`~ecn.inference.prepare.prepare_item` on each item and returns its unit-graph
  records (numpy arrays) or its error text;
* the main process expands the records of a batch and runs the model
  (:meth:`~ecn.inference.predictor.Predictor.predict_prepared`), while the pool prepares the
  next batches (``prefetch`` of them).

Rows come out batch by batch in input order, and a batch holds the same items whatever
``workers`` is, so the output is identical to ``workers=1`` (the same forward passes on the
same batches). A worker that dies (a crash inside a C extension, the kernel's OOM killer) breaks
the pool: a new pool is started and each item of the lost chunks is retried alone; an item that
kills its worker again gets an error row. Workers are forked from a fork server (a fresh
process that imports torch and pymatgen once; never a fork of the main process, which holds
torch's thread pools), or started with ``spawn`` where there is no fork server (Windows), each
then importing them itself (about 1-2 s). As with any multiprocessing code, a script that
calls :func:`iter_rows` with ``workers > 1`` needs the ``if __name__ == "__main__":`` guard (the
fork server imports the main script); ``ecn`` and ``python -m ecn.cli`` have it.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ecn.graphs.settings import GraphSettings
    from ecn.inference.inputs import InputItem
    from ecn.inference.predictor import Predictor
    from ecn.inference.prepare import Limits, Prepared

logger = logging.getLogger(__name__)

__all__ = ["available_cores", "iter_rows", "parse_shard", "start_fork_server"]

#: Items per task sent to a worker: large enough to amortise the pickling round trip.
CHUNK = 16
#: What the fork server imports once, so that each worker forks with torch and pymatgen loaded.
_PRELOAD = "ecn.inference.predictor"


def available_cores() -> int:
    """Cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"K/N"`` (1 <= K <= N) -> ``(K, N)``; None -> None; ValueError (one line) otherwise."""
    if text is None:
        return None
    k_s, sep, n_s = text.partition("/")
    try:
        k, n = int(k_s), int(n_s)
    except ValueError:
        k = n = 0
    if not sep or n < 1 or not 1 <= k <= n:
        raise ValueError(f"--shard takes K/N with 1 <= K <= N (e.g. 3/10), got {text!r}")
    return k, n


def _context() -> Any:
    """The fork-server context with its preload set, or ``spawn`` where there is none."""
    import multiprocessing

    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([_PRELOAD])
        return ctx
    return multiprocessing.get_context("spawn")


def start_fork_server() -> None:
    """Start the fork server now, before this process loads torch and the model.

    Why: the fork server imports torch and pymatgen (about 2 s) before it can fork the first
    worker. Started first, that import runs on another core while this process imports torch
    and loads the model, instead of after them. No-op where there is no fork server.
    """
    if _context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def _init_worker() -> None:
    """One thread per worker (the pool supplies the parallelism); Ctrl-C is the main's job."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    import torch

    torch.set_num_threads(1)


def _prepare_chunk(
    items: list[InputItem],
    settings: GraphSettings,
    average: str,
    group: str,
    limits: Limits | None = None,
) -> list[Prepared]:
    """What a worker does: `prepare_item` on each item, under the main process's limits."""
    from ecn.inference.prepare import prepare_item

    kw = {} if limits is None else {"limits": limits}
    return [prepare_item(it, settings, average, group, **kw) for it in items]


class _Pool:
    """A spawn process pool that is replaced when a worker dies."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.executor = self._new()

    def _new(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=_context(), initializer=_init_worker)

    def submit(self, *args: Any) -> Future:
        return self.executor.submit(_prepare_chunk, *args)

    def restart(self, broken: ProcessPoolExecutor) -> None:
        """A new executor, unless another failure has already replaced `broken`."""
        if self.executor is broken:
            broken.shutdown(wait=False, cancel_futures=True)
            self.executor = self._new()

    def close(self, cancel: bool = False) -> None:
        if cancel:
            # workers ignore SIGINT; stop them now rather than after their current chunk
            for proc in list((getattr(self.executor, "_processes", None) or {}).values()):
                proc.terminate()
        self.executor.shutdown(wait=True, cancel_futures=cancel)


def _collect(
    pool: _Pool,
    chunks: list[tuple[list[InputItem], ProcessPoolExecutor, Future]],
    args: tuple[GraphSettings, str, str, Limits | None],
) -> list[Prepared]:
    """The prepared items of one batch, in order; chunks lost with a dead worker are retried
    item by item in a fresh pool (an item that kills a worker again gets an error)."""
    from ecn.inference.prepare import Prepared

    out: list[Prepared] = []
    for items, executor, fut in chunks:
        try:
            out.extend(fut.result())
            continue
        except BrokenProcessPool:
            pool.restart(executor)
        for it in items:
            executor = pool.executor
            try:
                out.extend(pool.submit([it], *args).result())
            except BrokenProcessPool:
                logger.warning("input %s: a worker process died while preparing it", it.id)
                pool.restart(executor)
                out.append(
                    Prepared(
                        None,
                        "the worker process died while building the graph (a crash "
                        "in a parser or the memory limit); please report this input",
                    )
                )
    return out


def iter_rows(
    predictor: Predictor,
    items: Iterator[InputItem],
    batch_size: int = 256,
    workers: int = 1,
    average: str = "none",
    average_translations: bool = False,
    prefetch: int = 2,
) -> Iterator[list[dict[str, Any]]]:
    """Prediction rows of `items`, one list per batch of `batch_size` items, in input order.

    ``workers <= 1``: everything in this process (:meth:`Predictor.predict_items` per batch).
    Otherwise the preparation runs in `workers` processes, `prefetch` batches ahead of the
    model (module docstring); the rows are the same.
    """
    predictor.check_options(average)
    if workers <= 1:
        while batch := list(itertools.islice(items, batch_size)):
            yield predictor.predict_items(batch, average_translations, batch_size, average)
        return
    # the per-input bounds (``--max-atoms``, ``--max-passes``) travel with every chunk
    args = (predictor.settings, average, predictor.group, getattr(predictor, "limits", None))
    pool = _Pool(workers)
    pending: deque[tuple[list[InputItem], list]] = deque()

    def submit_next() -> None:
        batch = list(itertools.islice(items, batch_size))
        if batch:
            chunks = [batch[i : i + CHUNK] for i in range(0, len(batch), CHUNK)]
            ex = pool.executor
            pending.append((batch, [(c, ex, pool.submit(c, *args)) for c in chunks]))

    finished = False
    try:
        for _ in range(1 + max(prefetch, 0)):
            submit_next()
        while pending:
            batch, chunks = pending.popleft()
            submit_next()
            prepared = _collect(pool, chunks, args)
            yield predictor.predict_prepared(
                batch, prepared, average_translations, batch_size, average
            )
        finished = True
    finally:
        pool.close(cancel=not finished)


def prepare_all(
    items: Sequence[InputItem], settings: GraphSettings, average: str = "none", group: str = ""
) -> list[Prepared]:
    """:func:`~ecn.inference.prepare.prepare_item` over `items` in this process (what one
    worker does with a chunk); used by ``ecn bench predict`` to time the stages apart."""
    return _prepare_chunk(list(items), settings, average, group)
