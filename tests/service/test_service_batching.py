"""The adaptive batcher, on a fake model function (no TensorFlow)."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from service.batching import Batcher, ModelCallFailed
from service.errors import DeadlineExceeded, Overloaded, Unavailable


class Model:
    """Scores row ids as ``id * 2``, records each call's size, optionally waits on a gate or sleeps."""

    def __init__(self, delay: float = 0.0, gate: threading.Event | None = None) -> None:
        self.delay = delay
        self.gate = gate
        self.calls: list[int] = []
        self.started = threading.Event()

    def __call__(self, packed):
        self.started.set()
        if self.gate is not None:
            self.gate.wait(5)
        if self.delay:
            time.sleep(self.delay)
        ids = packed["ints"][:, 0]
        self.calls.append(len(ids))
        if (ids < 0).any():
            raise ValueError("negative ids are poison")
        return {"ctr": ids.astype(np.float32) * 2, "other": ids.astype(np.float32) + 0.5}


def packed(start: int, n: int) -> dict[str, np.ndarray]:
    return {"ints": np.arange(start, start + n, dtype=np.int64)[:, None]}


def later(seconds: float = 5.0) -> float:
    return time.monotonic() + seconds


async def wait_started(model: Model) -> None:
    while not model.started.is_set():
        await asyncio.sleep(0.001)


def test_a_lone_request_runs_at_once_even_with_a_long_batch_timeout():
    model = Model()

    async def main():
        batcher = Batcher(model, max_batch_rows=64, batch_timeout_s=5.0, max_queue_rows=1000)
        batcher.start()
        t0 = time.perf_counter()
        out = await batcher.submit(packed(3, 2), 2, later())
        elapsed = time.perf_counter() - t0
        await batcher.close()
        return out, elapsed

    out, elapsed = asyncio.run(main())
    np.testing.assert_array_equal(out["ctr"], [6, 8])
    assert elapsed < 1.0
    assert model.calls == [2]


def test_requests_arriving_during_a_call_share_the_next_call_and_get_their_own_rows():
    gate = threading.Event()
    model = Model(gate=gate)

    async def main():
        batcher = Batcher(model, max_batch_rows=64, batch_timeout_s=5.0, max_queue_rows=10_000)
        batcher.start()
        first = asyncio.ensure_future(batcher.submit(packed(0, 1), 1, later()))
        await wait_started(model)
        sizes = [1, 3, 7, 2, 5, 1, 9, 4]
        starts = (np.cumsum([0] + sizes[:-1]) + 1) * 10
        waiting = [asyncio.ensure_future(batcher.submit(packed(int(s), n), n, later())) for s, n in zip(starts, sizes)]
        await asyncio.sleep(0.02)
        gate.set()
        results = await asyncio.gather(first, *waiting)
        await batcher.close()
        return sizes, starts, results[1:]

    sizes, starts, results = asyncio.run(main())
    for s, n, out in zip(starts, sizes, results):
        np.testing.assert_array_equal(out["ctr"], np.arange(s, s + n) * 2)
        np.testing.assert_array_equal(out["other"], np.arange(s, s + n) + 0.5)
    assert model.calls == [1, sum(sizes)]  # everything that waited went into one call


def test_a_small_request_is_not_held_behind_large_ones():
    gate = threading.Event()
    model = Model(gate=gate)

    async def main():
        batcher = Batcher(model, max_batch_rows=8, batch_timeout_s=0, max_queue_rows=1000)
        batcher.start()
        first = asyncio.ensure_future(batcher.submit(packed(0, 1), 1, later()))
        await wait_started(model)
        large = [asyncio.ensure_future(batcher.submit(packed(100 * (i + 1), 6), 6, later())) for i in range(3)]
        await asyncio.sleep(0.01)
        small = asyncio.ensure_future(batcher.submit(packed(900, 1), 1, later()))
        await asyncio.sleep(0.01)
        gate.set()
        results = await asyncio.gather(first, *large, small)
        await batcher.close()
        return results

    results = asyncio.run(main())
    for i, out in enumerate(results[1:4]):
        np.testing.assert_array_equal(out["ctr"], np.arange(100 * (i + 1), 100 * (i + 1) + 6) * 2)
    np.testing.assert_array_equal(results[4]["ctr"], [1800])
    # The 1-row request, queued last, joins the first call after the running one (6 + 1 rows fit in 8);
    # first come first served would have left it for the fourth.
    assert model.calls == [1, 7, 6, 6]


def test_request_larger_than_a_batch_is_split_and_reassembled_in_order():
    model = Model()

    async def main():
        batcher = Batcher(model, max_batch_rows=10, batch_timeout_s=0, max_queue_rows=1000)
        batcher.start()
        out = await batcher.submit(packed(100, 37), 37, later())
        await batcher.close()
        return out

    out = asyncio.run(main())
    np.testing.assert_array_equal(out["ctr"], np.arange(100, 137) * 2)
    assert max(model.calls) <= 10 and sum(model.calls) == 37


def test_full_queue_refuses_at_once_but_keeps_room_for_small_requests():
    gate = threading.Event()
    model = Model(gate=gate)

    async def main():
        batcher = Batcher(model, max_batch_rows=8, batch_timeout_s=0, max_queue_rows=64)
        batcher.start()
        running = asyncio.ensure_future(batcher.submit(packed(0, 8), 8, later()))  # taken by the blocked call
        await wait_started(model)
        large = [asyncio.ensure_future(batcher.submit(packed(100 + 8 * i, 8), 8, later())) for i in range(6)]
        await asyncio.sleep(0.01)
        assert batcher.queued_rows == 48  # 64 minus the quarter kept for small requests
        t0 = time.perf_counter()
        with pytest.raises(Overloaded):
            await batcher.submit(packed(900, 8), 8, later())
        refused_in = time.perf_counter() - t0
        small = asyncio.ensure_future(batcher.submit(packed(7, 1), 1, later()))
        await asyncio.sleep(0.01)
        assert batcher.queued_rows == 49
        gate.set()
        results = await asyncio.gather(running, *large, small)
        await batcher.close()
        return refused_in, results

    refused_in, results = asyncio.run(main())
    assert refused_in < 0.01
    np.testing.assert_array_equal(results[-1]["ctr"], [14])


def test_a_request_that_cannot_finish_before_its_deadline_is_refused_before_it_queues():
    model = Model(delay=0.002)

    async def main():
        batcher = Batcher(model, max_batch_rows=1000, batch_timeout_s=0, max_queue_rows=100_000)
        batcher.start()
        batcher.cost.record(1, 0.001)
        batcher.cost.record(1000, 0.101)  # 0.1 ms per row
        with pytest.raises(Overloaded, match="past the deadline"):
            await batcher.submit(packed(0, 5000), 5000, later(0.2))  # needs about 0.5 s
        out = await batcher.submit(packed(0, 5), 5, later(0.2))
        await batcher.close()
        return out

    np.testing.assert_array_equal(asyncio.run(main())["ctr"], np.arange(5) * 2)
    assert model.calls == [5]


def test_deadline_while_queued_frees_the_rows_and_skips_the_work():
    gate = threading.Event()
    model = Model(gate=gate)

    async def main():
        batcher = Batcher(model, max_batch_rows=4, batch_timeout_s=0, max_queue_rows=100)
        batcher.start()
        blocker = asyncio.ensure_future(batcher.submit(packed(0, 4), 4, later()))
        await wait_started(model)
        t0 = time.perf_counter()
        with pytest.raises(DeadlineExceeded):
            await batcher.submit(packed(50, 3), 3, later(0.05))
        waited = time.perf_counter() - t0
        assert batcher.queued_rows == 0
        gate.set()
        await blocker
        after = await batcher.submit(packed(7, 2), 2, later())
        await batcher.close()
        return waited, after

    waited, after = asyncio.run(main())
    assert 0.04 < waited < 0.5
    np.testing.assert_array_equal(after["ctr"], [14, 16])
    assert model.calls == [4, 2]  # the expired request never reached the model


def test_work_whose_deadline_passed_while_the_loop_was_busy_is_dropped_not_computed():
    gate = threading.Event()
    model = Model(gate=gate)
    dropped = []

    class Observer:
        def queue_wait(self, seconds): ...
        def model_call(self, rows, seconds, outputs): ...
        def dropped(self, rows): dropped.append(rows)

    async def main():
        batcher = Batcher(model, max_batch_rows=100, batch_timeout_s=0, max_queue_rows=100, observer=Observer())
        batcher.start()
        blocker = asyncio.ensure_future(batcher.submit(packed(0, 4), 4, later()))
        await wait_started(model)
        late = asyncio.ensure_future(batcher.submit(packed(10, 3), 3, later(0.03)))
        await asyncio.sleep(0.005)
        gate.set()
        time.sleep(0.06)  # the event loop is held up past the late request's deadline
        await blocker
        with pytest.raises(DeadlineExceeded):
            await late
        await batcher.close()

    asyncio.run(main())
    assert model.calls == [4]
    assert dropped == [3]


def test_with_two_workers_a_free_worker_waits_for_a_fuller_batch_while_the_other_runs():
    gate = threading.Event()
    model = Model(gate=gate)

    async def main():
        batcher = Batcher(model, max_batch_rows=100, batch_timeout_s=0.1, max_queue_rows=1000, workers=2)
        batcher.start()
        first = asyncio.ensure_future(batcher.submit(packed(0, 1), 1, later()))
        await wait_started(model)
        a = asyncio.ensure_future(batcher.submit(packed(10, 2), 2, later()))
        await asyncio.sleep(0.02)
        b = asyncio.ensure_future(batcher.submit(packed(20, 3), 3, later()))
        await asyncio.sleep(0.15)
        gate.set()
        await asyncio.gather(first, a, b)
        await batcher.close()

    asyncio.run(main())
    assert sorted(model.calls) == [1, 5]


def test_close_drains_queued_work_then_refuses():
    model = Model(delay=0.02)

    async def main():
        batcher = Batcher(model, max_batch_rows=2, batch_timeout_s=0, max_queue_rows=100)
        batcher.start()
        pending = [asyncio.ensure_future(batcher.submit(packed(i * 10, 2), 2, later())) for i in range(4)]
        await asyncio.sleep(0)
        await batcher.close()
        assert all(p.done() for p in pending)
        with pytest.raises(Unavailable):
            await batcher.submit(packed(0, 1), 1, later())
        return [p.result()["ctr"].tolist() for p in pending]

    results = asyncio.run(main())
    assert results == [[i * 20, i * 20 + 2] for i in range(4)]


def test_a_failing_request_fails_alone_and_its_batch_neighbours_get_their_scores():
    gate = threading.Event()
    model = Model(gate=gate)

    async def main():
        batcher = Batcher(model, max_batch_rows=100, batch_timeout_s=0, max_queue_rows=1000)
        batcher.start()
        blocker = asyncio.ensure_future(batcher.submit(packed(0, 1), 1, later()))
        await wait_started(model)
        merged = [
            asyncio.ensure_future(batcher.submit(packed(10, 2), 2, later())),
            asyncio.ensure_future(batcher.submit(packed(-5, 2), 2, later())),  # poison
            asyncio.ensure_future(batcher.submit(packed(30, 3), 3, later())),
        ]
        await asyncio.sleep(0.01)
        gate.set()
        results = await asyncio.gather(blocker, *merged, return_exceptions=True)
        after = await batcher.submit(packed(5, 1), 1, later())
        await batcher.close()
        return results, after

    results, after = asyncio.run(main())
    np.testing.assert_array_equal(results[1]["ctr"], [20, 22])
    assert isinstance(results[2], ModelCallFailed) and "poison" in str(results[2])
    np.testing.assert_array_equal(results[3]["ctr"], [60, 62, 64])
    np.testing.assert_array_equal(after["ctr"], [10])
    assert model.calls[:2] == [1, 7]  # the merged call failed, then each request ran alone
    assert sorted(model.calls[2:5]) == [2, 2, 3]
