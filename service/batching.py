"""Dynamic batching: concurrent requests for one model version share model calls.

A :class:`Batcher` keeps a FIFO queue of pending work, bounded in rows. Its
dispatcher task takes work from the head of the queue until the batch holds
``max_batch_rows`` rows or the oldest waiting request has waited
``batch_timeout_s``, concatenates the columns, runs the model in a worker thread
(TensorFlow releases the GIL, so the event loop keeps parsing requests
meanwhile) and hands each request back its own slice of the outputs. A request
larger than ``max_batch_rows`` is cut into several pieces that may run in
different calls; its answer is put back together in order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

__all__ = [
    "BatchObserver",
    "Batcher",
    "BatcherClosed",
    "DeadlineExceeded",
    "Overloaded",
]

log = logging.getLogger(__name__)

Columns = dict[str, np.ndarray]
Outputs = dict[str, np.ndarray]

_QUEUED, _TAKEN, _CANCELLED = 0, 1, 2


class Overloaded(Exception):
    """The queue has no room for the request's rows (answer 503)."""


class DeadlineExceeded(Exception):
    """The request's deadline passed before its scores were ready (answer 504)."""


class BatcherClosed(Exception):
    """The batcher is draining or closed and takes no new work."""


class BatchObserver(Protocol):
    """Receives measurements from a batcher (metrics live elsewhere)."""

    def queue_wait(self, seconds: float) -> None: ...

    def model_call(self, rows: int, seconds: float, outputs: Outputs) -> None: ...


@dataclass(slots=True, eq=False)
class _Work:
    columns: Columns
    rows: int
    future: asyncio.Future[Outputs]
    enqueued: float
    state: int = _QUEUED


@dataclass(slots=True)
class _Batch:
    works: list[_Work] = field(default_factory=list)
    rows: int = 0


def _slice(columns: Columns, start: int, stop: int) -> Columns:
    return {name: arr[start:stop] for name, arr in columns.items()}


def _concat(works: list[_Work]) -> Columns:
    if len(works) == 1:
        return works[0].columns
    names = works[0].columns.keys()
    return {name: np.concatenate([w.columns[name] for w in works]) for name in names}


class Batcher:
    """Merges concurrent requests into model calls.

    Args:
        run: the model call, ``columns -> outputs`` (1-D arrays, one row per input row);
            it runs in a worker thread.
        name: used for thread names and logs.
        max_batch_rows: most rows in one call.
        batch_timeout_s: longest time the oldest request waits for a fuller batch.
        max_queue_rows: most rows waiting; beyond it :meth:`submit` raises :class:`Overloaded`.
        workers: model calls that may run at once.
        observer: optional receiver of queue-wait and model-call measurements.
    """

    def __init__(
        self,
        run: Callable[[Columns], Outputs],
        *,
        name: str = "model",
        max_batch_rows: int = 1024,
        batch_timeout_s: float = 0.001,
        max_queue_rows: int = 16384,
        workers: int = 1,
        observer: BatchObserver | None = None,
    ) -> None:
        if max_batch_rows < 1 or max_queue_rows < 1 or workers < 1:
            raise ValueError("max_batch_rows, max_queue_rows and workers must be at least 1")
        self._run = run
        self.name = name
        self.max_batch_rows = max_batch_rows
        self.batch_timeout_s = batch_timeout_s
        self.max_queue_rows = max_queue_rows
        self.workers = workers
        self._observer = observer
        self._queue: deque[_Work] = deque()
        self._queued_rows = 0
        self._in_flight = 0
        self._closing = False
        self._wakeup: asyncio.Event | None = None
        self._slots: asyncio.Semaphore | None = None
        self._task: asyncio.Task[None] | None = None
        self._calls: set[asyncio.Future[None]] = set()
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"batch-{name}")

    # -- state ------------------------------------------------------------------
    @property
    def queued_rows(self) -> int:
        """Rows waiting for a model call."""
        return self._queued_rows

    @property
    def in_flight(self) -> int:
        """Model calls running now."""
        return self._in_flight

    @property
    def closed(self) -> bool:
        return self._closing

    def start(self) -> None:
        """Starts the dispatcher on the running event loop."""
        if self._task is None:
            self._wakeup = asyncio.Event()
            self._slots = asyncio.Semaphore(self.workers)
            self._task = asyncio.get_running_loop().create_task(self._dispatch(), name=f"batcher-{self.name}")

    async def close(self) -> None:
        """Stops taking work, lets queued and running work finish, then stops."""
        self._closing = True
        if self._task is not None:
            assert self._wakeup is not None
            self._wakeup.set()
            await self._task
            if self._calls:
                await asyncio.gather(*self._calls, return_exceptions=True)
        self._executor.shutdown(wait=True)

    # -- submission ---------------------------------------------------------------
    async def submit(self, columns: Columns, rows: int, deadline: float | None = None) -> Outputs:
        """Scores ``rows`` rows; returns one array per output, in row order.

        ``deadline`` is a ``time.monotonic()`` instant. Raises :class:`Overloaded`
        when the queue has no room, :class:`DeadlineExceeded` past the deadline,
        :class:`BatcherClosed` when draining.
        """
        if self._closing or self._task is None:
            raise BatcherClosed(self.name)
        if self._queued_rows + rows > self.max_queue_rows:
            raise Overloaded(
                f"{self.name}: {self._queued_rows} rows queued, no room for {rows} more "
                f"(limit {self.max_queue_rows})"
            )
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        step = self.max_batch_rows
        works = []
        for start in range(0, rows, step):
            piece = columns if rows <= step else _slice(columns, start, min(rows, start + step))
            work = _Work(piece, min(rows, start + step) - start, loop.create_future(), now)
            works.append(work)
            self._queue.append(work)
        self._queued_rows += rows
        assert self._wakeup is not None
        self._wakeup.set()
        try:
            if len(works) == 1:
                if deadline is None:
                    return await works[0].future
                async with asyncio.timeout_at(loop.time() + (deadline - now)):
                    return await works[0].future
            gathered = asyncio.gather(*(w.future for w in works))
            if deadline is None:
                parts = await gathered
            else:
                async with asyncio.timeout_at(loop.time() + (deadline - now)):
                    parts = await gathered
            return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
        except TimeoutError:
            raise DeadlineExceeded(f"{self.name}: no answer within the deadline") from None
        finally:
            for work in works:
                if work.state == _QUEUED:
                    work.state = _CANCELLED
                    self._queued_rows -= work.rows
                if not work.future.done():
                    work.future.cancel()

    # -- dispatch -------------------------------------------------------------------
    def _head(self) -> _Work | None:
        while self._queue and self._queue[0].state == _CANCELLED:
            self._queue.popleft()
        return self._queue[0] if self._queue else None

    async def _dispatch(self) -> None:
        assert self._wakeup is not None and self._slots is not None
        loop = asyncio.get_running_loop()
        while True:
            head = self._head()
            if head is None:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            await self._slots.acquire()
            try:
                # wait for a fuller batch, but never past the oldest request's timeout
                while self._queued_rows < self.max_batch_rows and not self._closing:
                    head = self._head()
                    if head is None:
                        break
                    remaining = head.enqueued + self.batch_timeout_s - time.monotonic()
                    if remaining <= 0:
                        break
                    self._wakeup.clear()
                    try:
                        async with asyncio.timeout(remaining):
                            await self._wakeup.wait()
                    except TimeoutError:
                        break
                batch = self._take()
            except BaseException:
                self._slots.release()
                raise
            if not batch.works:
                self._slots.release()
                continue
            self._in_flight += 1
            call = loop.run_in_executor(self._executor, self._call, batch.works, batch.rows)
            self._calls.add(call)
            call.add_done_callback(lambda fut, b=batch: self._finish(fut, b))

    def _take(self) -> _Batch:
        batch = _Batch()
        now = time.monotonic()
        while self._queue:
            work = self._queue[0]
            if work.state == _CANCELLED:
                self._queue.popleft()
                continue
            if batch.works and batch.rows + work.rows > self.max_batch_rows:
                break
            self._queue.popleft()
            work.state = _TAKEN
            self._queued_rows -= work.rows
            batch.works.append(work)
            batch.rows += work.rows
            if self._observer is not None:
                self._observer.queue_wait(now - work.enqueued)
        return batch

    def _call(self, works: list[_Work], rows: int) -> Outputs:
        start = time.perf_counter()
        outputs = self._run(_concat(works))
        elapsed = time.perf_counter() - start
        for name, arr in outputs.items():
            if arr.shape[:1] != (rows,):
                raise RuntimeError(f"{self.name}: output {name!r} has shape {arr.shape} for {rows} rows")
        if self._observer is not None:
            self._observer.model_call(rows, elapsed, outputs)
        return outputs

    def _finish(self, call: asyncio.Future[Outputs], batch: _Batch) -> None:
        assert self._slots is not None
        self._calls.discard(call)
        self._in_flight -= 1
        self._slots.release()
        error = call.exception() if not call.cancelled() else RuntimeError("cancelled")
        if error is not None:
            log.error("%s: model call on %d rows failed: %r", self.name, batch.rows, error)
            for work in batch.works:
                if not work.future.done():
                    work.future.set_exception(RuntimeError(f"model call failed: {error}"))
            return
        outputs = call.result()
        offset = 0
        for work in batch.works:
            stop = offset + work.rows
            if not work.future.done():
                work.future.set_result({name: arr[offset:stop] for name, arr in outputs.items()})
            offset = stop
