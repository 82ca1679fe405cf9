"""Adaptive batching: requests for one model version share model calls.

A request that arrives while the model is idle runs at once. Requests that
arrive while a call runs wait for it and then go together into the next call,
up to ``max_batch_rows`` rows: the busier the model, the larger its batches,
and nobody waits for a batch to fill. With several model workers, a free worker
waits at most ``batch_timeout_s`` (counted from the oldest waiting request) for
a fuller batch while another call runs.

The queue is bounded in rows, and a request is refused (:class:`Overloaded`)
when it would not fit or could not finish before its deadline at the rate the
model is measured to score; a few rows are always reserved for small requests,
so that large ones cannot starve them. Work whose deadline has passed when its
turn comes is dropped, not computed (:class:`DeadlineExceeded`).

Each request's packed matrices are concatenated with its neighbours' (one copy
per dtype group) and scored in a worker thread; TensorFlow releases the GIL, so
the event loop keeps reading requests meanwhile. If a merged call fails, its
requests are scored again one by one, so that only a request whose own content
fails gets the error. A request larger than ``max_batch_rows`` is cut into
pieces (views) that may run in different calls; its answer is put back together
in order.
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

from service.errors import DeadlineExceeded, Overloaded, Unavailable

__all__ = ["BatchObserver", "Batcher", "CallCost", "ModelCallFailed", "Outputs", "Packed"]

log = logging.getLogger(__name__)

Packed = dict[str, np.ndarray]
Outputs = dict[str, np.ndarray]

_QUEUED, _TAKEN, _DONE = 0, 1, 2
# share of the queue kept for requests of at most 1/16 of it
_SMALL_RESERVE = 0.25
# Queue entries a batch looks through for works that fit beside those it took from the front.
_SCAN = 256


class ModelCallFailed(Exception):
    """The model call on a request's own rows failed (answer 500)."""


class BatchObserver(Protocol):
    """Receives measurements from a batcher (metrics live elsewhere)."""

    def queue_wait(self, seconds: float) -> None: ...

    def model_call(self, rows: int, seconds: float, outputs: Outputs) -> None: ...

    def dropped(self, rows: int) -> None: ...


@dataclass(slots=True, eq=False)
class _Work:
    packed: Packed
    rows: int
    future: asyncio.Future[Outputs]
    enqueued: float
    deadline: float
    state: int = _QUEUED


class CallCost:
    """The measured cost of a model call: a fixed part plus a part per row (moving averages).

    Small calls measure the fixed part, large ones the part per row; an estimate
    exists once a large call has been measured (the registry's warm-up makes one).
    """

    def __init__(self) -> None:
        self.fixed = 0.0
        self.per_row: float | None = None

    def record(self, rows: int, seconds: float) -> None:
        if rows <= 16:
            self.fixed = seconds if not self.fixed else 0.8 * self.fixed + 0.2 * seconds
        elif rows >= 128:
            per_row = max(seconds - self.fixed, 0.0) / rows
            self.per_row = per_row if self.per_row is None else 0.8 * self.per_row + 0.2 * per_row

    def estimate(self, rows: int, calls: int) -> float | None:
        """Seconds to score ``rows`` rows in ``calls`` calls, or None before a large call was measured."""
        if self.per_row is None:
            return None
        return calls * self.fixed + rows * self.per_row


@dataclass(slots=True)
class _Batch:
    works: list[_Work] = field(default_factory=list)
    rows: int = 0


def _slice(packed: Packed, start: int, stop: int) -> Packed:
    return {group: m[start:stop] for group, m in packed.items()}


def _concat(works: list[_Work]) -> Packed:
    if len(works) == 1:
        return works[0].packed
    return {group: np.concatenate([w.packed[group] for w in works]) for group in works[0].packed}


class Batcher:
    """Merges concurrent requests into model calls.

    Args:
        run: the model call, ``packed matrices -> outputs`` (1-D arrays, one value
            per row); it runs in a worker thread.
        name: used for thread names and logs.
        max_batch_rows: most rows in one call.
        batch_timeout_s: with several workers, the longest a free worker waits for a
            fuller batch while another call runs (a lone request never waits).
        max_queue_rows: most rows waiting; beyond it :meth:`submit` raises :class:`Overloaded`.
        workers: model calls that may run at once.
        observer: optional receiver of queue-wait and model-call measurements.
        thread_start: run first in each worker thread (the service lowers their priority there).
    """

    def __init__(
        self,
        run: Callable[[Packed], Outputs],
        *,
        name: str = "model",
        max_batch_rows: int = 1024,
        batch_timeout_s: float = 0.001,
        max_queue_rows: int = 8192,
        workers: int = 1,
        observer: BatchObserver | None = None,
        thread_start: Callable[[], None] | None = None,
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
        self._running = 0
        self._running_rows = 0
        self._closing = False
        self._timer: asyncio.TimerHandle | None = None
        self._idle: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.cost = CallCost()
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"batch-{name}",
                                            initializer=thread_start)

    # -- state ------------------------------------------------------------------
    @property
    def queued_rows(self) -> int:
        """Rows waiting for a model call."""
        return self._queued_rows

    @property
    def in_flight(self) -> int:
        """Model calls running now."""
        return self._running

    @property
    def closed(self) -> bool:
        return self._closing

    def start(self) -> None:
        """Binds the batcher to the running event loop."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._idle = asyncio.Event()
            self._idle.set()

    async def close(self) -> None:
        """Stops taking work, lets queued and running work finish, then stops."""
        self._closing = True
        if self._loop is not None:
            assert self._idle is not None
            self._kick()
            while self._queue or self._running:
                self._idle.clear()
                await self._idle.wait()
        self._executor.shutdown(wait=True)

    def expected_wait(self, rows: int) -> float | None:
        """Seconds until ``rows`` more rows would be scored, at the measured rate (None before a measurement)."""
        total = self._queued_rows + self._running_rows + rows
        return self.cost.estimate(total, -(-total // self.max_batch_rows) + self._running)

    def has_room(self, rows: int) -> bool:
        """Whether ``rows`` rows fit in the queue now (large requests leave a reserve for small ones)."""
        limit = self.max_queue_rows
        if rows > limit // 16:
            limit -= int(limit * _SMALL_RESERVE)
        return self._queued_rows + rows <= limit

    # -- submission ---------------------------------------------------------------
    async def submit(self, packed: Packed, rows: int, deadline: float) -> Outputs:
        """Scores ``rows`` rows; returns one array per output, in row order.

        ``deadline`` is a ``time.monotonic()`` instant. Raises :class:`Overloaded`
        when the queue has no room or the rows could not be scored in time,
        :class:`DeadlineExceeded` past the deadline, :class:`Unavailable` when
        draining, :class:`ModelCallFailed` when the model fails on these rows.
        """
        loop = self._loop
        if self._closing or loop is None:
            raise Unavailable(self.name)
        now = time.monotonic()
        if not self.has_room(rows):
            raise Overloaded(f"{self._queued_rows} rows queued, no room for {rows} more")
        wait = self.expected_wait(rows)
        if wait is not None and now + wait > deadline:
            raise Overloaded(f"{rows} rows would wait about {wait * 1000:.0f} ms, past the deadline")
        step = self.max_batch_rows
        works = []
        for start in range(0, rows, step):
            stop = min(rows, start + step)
            piece = packed if rows <= step else _slice(packed, start, stop)
            works.append(_Work(piece, stop - start, loop.create_future(), now, deadline))
        self._queue.extend(works)
        self._queued_rows += rows
        self._kick()
        try:
            async with asyncio.timeout_at(loop.time() + (deadline - now)):
                if len(works) == 1:
                    return await works[0].future
                parts = await asyncio.gather(*(w.future for w in works))
        except TimeoutError:
            raise DeadlineExceeded(f"{self.name}: no answer within the deadline") from None
        finally:
            for work in works:
                if work.state == _QUEUED:
                    work.state = _DONE
                    self._queued_rows -= work.rows
                if not work.future.done():
                    work.future.cancel()
        return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}

    # -- dispatch -------------------------------------------------------------------
    def _head(self) -> _Work | None:
        while self._queue and self._queue[0].state != _QUEUED:
            self._queue.popleft()
        return self._queue[0] if self._queue else None

    def _kick(self) -> None:
        """Starts model calls while a worker is free and work waits."""
        assert self._loop is not None
        while self._running < self.workers:
            head = self._head()
            if head is None:
                break
            if self._running and self._queued_rows < self.max_batch_rows and not self._closing:
                due = head.enqueued + self.batch_timeout_s
                if time.monotonic() < due:
                    if self._timer is None:
                        self._timer = self._loop.call_at(self._loop.time() + self.batch_timeout_s, self._on_timer)
                    break
            batch = self._take()
            if batch.works:
                self._start(batch)
        if not self._running and not self._queue and self._idle is not None:
            self._idle.set()

    def _on_timer(self) -> None:
        self._timer = None
        self._kick()

    def _take(self) -> _Batch:
        """The next call's works: from the head of the queue in order, then, once the next one does not
        fit, later ones that still fit (so small requests are not held behind large ones); works past
        their deadline are dropped on the way."""
        batch = _Batch()
        now = time.monotonic()
        for seen, work in enumerate(self._queue):
            if batch.rows >= self.max_batch_rows or (seen >= _SCAN and batch.works):
                break
            if work.state != _QUEUED or (batch.works and batch.rows + work.rows > self.max_batch_rows):
                continue
            self._queued_rows -= work.rows
            if now >= work.deadline:
                work.state = _DONE
                if not work.future.done():
                    work.future.set_exception(DeadlineExceeded(f"{self.name}: deadline passed while queued"))
                if self._observer is not None:
                    self._observer.dropped(work.rows)
                continue
            work.state = _TAKEN
            batch.works.append(work)
            batch.rows += work.rows
            if self._observer is not None:
                self._observer.queue_wait(now - work.enqueued)
        self._head()  # drops the taken and finished works at the front
        return batch

    def _start(self, batch: _Batch) -> None:
        assert self._loop is not None
        self._running += 1
        self._running_rows += batch.rows
        call = self._loop.run_in_executor(self._executor, self._call, batch.works, batch.rows)
        call.add_done_callback(lambda fut: self._finish(fut, batch))

    def _call(self, works: list[_Work], rows: int) -> list[Outputs | BaseException]:
        """Runs in a worker thread: one merged call, or one call per request if the merged one fails."""
        start = time.perf_counter()
        try:
            outputs = self._run(_concat(works))
            for name, arr in outputs.items():
                if arr.shape[:1] != (rows,):
                    raise RuntimeError(f"output {name!r} has shape {arr.shape} for {rows} rows")
        except Exception as exc:
            if len(works) == 1:
                log.error("%s: model call on %d rows failed: %r", self.name, rows, exc)
                return [exc]
            log.warning("%s: merged model call on %d rows of %d requests failed (%r); scoring each alone",
                        self.name, rows, len(works), exc)
            return [self._call(works=[w], rows=w.rows)[0] for w in works]
        elapsed = time.perf_counter() - start
        self.cost.record(rows, elapsed)
        if self._observer is not None:
            self._observer.model_call(rows, elapsed, outputs)
        parts: list[Outputs | BaseException] = []
        offset = 0
        for work in works:
            stop = offset + work.rows
            parts.append({name: arr[offset:stop] for name, arr in outputs.items()})
            offset = stop
        return parts

    def _finish(self, call: asyncio.Future[list[Outputs | BaseException]], batch: _Batch) -> None:
        self._running -= 1
        self._running_rows -= batch.rows
        if call.cancelled():
            results: list[Outputs | BaseException] = [RuntimeError("model call cancelled")] * len(batch.works)
        elif call.exception() is not None:
            results = [call.exception()] * len(batch.works)  # type: ignore[list-item]
        else:
            results = call.result()
        for work, result in zip(batch.works, results):
            work.state = _DONE
            if work.future.done():
                continue
            if isinstance(result, BaseException):
                work.future.set_exception(ModelCallFailed(f"model call failed: {result}"))
            else:
                work.future.set_result(result)
        self._kick()
