"""The dynamic batcher, on a fake model function (no TensorFlow)."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from service.batching import Batcher, BatcherClosed, DeadlineExceeded, Overloaded


class Model:
    """Scores row ids as ``id * 2``, records each call's size, optionally sleeps."""

    def __init__(self, delay: float = 0.0, gate: threading.Event | None = None) -> None:
        self.delay = delay
        self.gate = gate
        self.calls: list[int] = []

    def __call__(self, columns):
        if self.gate is not None:
            self.gate.wait(5)
        if self.delay:
            time.sleep(self.delay)
        ids = columns["id"]
        self.calls.append(len(ids))
        return {"ctr": ids.astype(np.float32) * 2, "other": ids.astype(np.float32) + 0.5}


def columns(start: int, n: int) -> dict[str, np.ndarray]:
    return {"id": np.arange(start, start + n, dtype=np.int64)}


def test_concurrent_requests_are_merged_and_each_gets_its_own_rows():
    model = Model(delay=0.01)

    async def main():
        batcher = Batcher(model, max_batch_rows=64, batch_timeout_s=0.005, max_queue_rows=10_000)
        batcher.start()
        sizes = [1, 3, 7, 2, 5, 1, 9, 4] * 4
        starts = np.cumsum([0] + sizes[:-1]) * 10
        results = await asyncio.gather(
            *(batcher.submit(columns(int(s), n), n) for s, n in zip(starts, sizes))
        )
        await batcher.close()
        return sizes, starts, results

    sizes, starts, results = asyncio.run(main())
    for s, n, out in zip(starts, sizes, results):
        np.testing.assert_array_equal(out["ctr"], np.arange(s, s + n) * 2)
        np.testing.assert_array_equal(out["other"], np.arange(s, s + n) + 0.5)
    assert sum(model.calls) == sum(sizes)
    assert len(model.calls) < len(sizes)  # requests shared calls
    assert max(model.calls) <= 64


def test_request_larger_than_batch_is_split_and_reassembled_in_order():
    model = Model()

    async def main():
        batcher = Batcher(model, max_batch_rows=10, batch_timeout_s=0, max_queue_rows=1000)
        batcher.start()
        out = await batcher.submit(columns(100, 37), 37)
        await batcher.close()
        return out

    out = asyncio.run(main())
    np.testing.assert_array_equal(out["ctr"], np.arange(100, 137) * 2)
    assert max(model.calls) <= 10 and sum(model.calls) == 37


def test_full_queue_refuses_at_once():
    gate = threading.Event()
    model = Model(gate=gate)

    async def main():
        batcher = Batcher(model, max_batch_rows=4, batch_timeout_s=0, max_queue_rows=8)
        batcher.start()
        first = asyncio.ensure_future(batcher.submit(columns(0, 4), 4))  # taken by the (blocked) call
        await asyncio.sleep(0.05)
        queued = asyncio.ensure_future(batcher.submit(columns(10, 8), 8))  # fills the queue
        await asyncio.sleep(0.01)
        assert batcher.queued_rows == 8
        t0 = time.perf_counter()
        with pytest.raises(Overloaded):
            await batcher.submit(columns(20, 1), 1)
        refused_in = time.perf_counter() - t0
        gate.set()
        a, b = await first, await queued
        await batcher.close()
        return refused_in, a, b

    refused_in, a, b = asyncio.run(main())
    assert refused_in < 0.01
    np.testing.assert_array_equal(a["ctr"], np.arange(0, 4) * 2)
    np.testing.assert_array_equal(b["ctr"], np.arange(10, 18) * 2)


def test_deadline_while_queued_frees_the_rows_and_skips_the_work():
    gate = threading.Event()
    model = Model(gate=gate)

    async def main():
        batcher = Batcher(model, max_batch_rows=4, batch_timeout_s=0, max_queue_rows=100)
        batcher.start()
        blocker = asyncio.ensure_future(batcher.submit(columns(0, 4), 4))
        await asyncio.sleep(0.05)
        t0 = time.perf_counter()
        with pytest.raises(DeadlineExceeded):
            await batcher.submit(columns(50, 3), 3, deadline=time.monotonic() + 0.05)
        waited = time.perf_counter() - t0
        assert batcher.queued_rows == 0
        gate.set()
        await blocker
        after = await batcher.submit(columns(7, 2), 2)
        await batcher.close()
        return waited, after

    waited, after = asyncio.run(main())
    assert 0.04 < waited < 0.5
    np.testing.assert_array_equal(after["ctr"], [14, 16])
    assert model.calls == [4, 2]  # the expired request never reached the model


def test_batch_timeout_waits_for_more_rows():
    model = Model()

    async def main():
        batcher = Batcher(model, max_batch_rows=100, batch_timeout_s=0.1, max_queue_rows=1000)
        batcher.start()
        first = asyncio.ensure_future(batcher.submit(columns(0, 2), 2))
        await asyncio.sleep(0.02)
        second = asyncio.ensure_future(batcher.submit(columns(2, 3), 3))
        await asyncio.gather(first, second)
        await batcher.close()

    asyncio.run(main())
    assert model.calls == [5]


def test_full_batch_does_not_wait_for_the_timeout():
    model = Model()

    async def main():
        batcher = Batcher(model, max_batch_rows=8, batch_timeout_s=5.0, max_queue_rows=1000)
        batcher.start()
        t0 = time.perf_counter()
        await asyncio.gather(batcher.submit(columns(0, 4), 4), batcher.submit(columns(4, 4), 4))
        elapsed = time.perf_counter() - t0
        await batcher.close()
        return elapsed

    assert asyncio.run(main()) < 1.0
    assert model.calls == [8]


def test_close_drains_queued_work_then_refuses():
    model = Model(delay=0.02)

    async def main():
        batcher = Batcher(model, max_batch_rows=2, batch_timeout_s=0, max_queue_rows=100)
        batcher.start()
        pending = [asyncio.ensure_future(batcher.submit(columns(i * 10, 2), 2)) for i in range(4)]
        await asyncio.sleep(0)
        await batcher.close()
        assert all(p.done() for p in pending)
        with pytest.raises(BatcherClosed):
            await batcher.submit(columns(0, 1), 1)
        return [p.result()["ctr"].tolist() for p in pending]

    results = asyncio.run(main())
    assert results == [[i * 20, i * 20 + 2] for i in range(4)]


def test_model_failure_reaches_every_request_of_the_batch_only():
    calls = []

    def flaky(cols):
        calls.append(len(cols["id"]))
        if len(calls) == 1:
            raise ValueError("boom")
        return {"ctr": cols["id"].astype(np.float32)}

    async def main():
        batcher = Batcher(flaky, max_batch_rows=100, batch_timeout_s=0.02, max_queue_rows=1000)
        batcher.start()
        results = await asyncio.gather(
            batcher.submit(columns(0, 2), 2), batcher.submit(columns(2, 2), 2), return_exceptions=True
        )
        later = await batcher.submit(columns(5, 1), 1)
        await batcher.close()
        return results, later

    results, later = asyncio.run(main())
    assert all(isinstance(r, RuntimeError) for r in results)
    np.testing.assert_array_equal(later["ctr"], [5])
