"""The pieces of ``--workers`` that run without a server: settings handed over, worker slots, merged metrics."""

from __future__ import annotations

import asyncio
import os
import socket

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.metrics import ServiceMetrics, merge_expositions
from service.settings import Settings
from service.workers import PortUnavailable, WorkerSlot, port_group_socket, settings_payload


def test_workers_get_exactly_the_supervisors_settings(monkeypatch):
    monkeypatch.setenv("CTR_MAX_QUEUE_ROWS", "5000")
    settings = Settings(admin_token="s3cret", workers=3, model_versions={"ads": 2}, version_policy="specific",
                        tf_intra_op_threads=2)
    monkeypatch.delenv("CTR_MAX_QUEUE_ROWS")
    monkeypatch.setenv("CTR_MAX_BATCH_ROWS", "7")  # the worker's environment does not override what was given
    again = Settings(**settings_payload(settings))
    assert again == settings and again.max_queue_rows == 5000 and again.max_batch_rows == 1024
    assert again.admin_token.get_secret_value() == "s3cret"


def test_worker_slots_take_distinct_indexes_and_answer_each_other(tmp_path):
    async def main():
        first, second = WorkerSlot(tmp_path, 3), WorkerSlot(tmp_path, 3)
        assert (first.index, second.index) == (0, 1)
        for slot in (first, second):
            await slot.listen(lambda request, i=slot.index: asyncio.sleep(0, f"{request} from {i}".encode()))
        assert await first.gather("metrics") == {1: b"metrics from 1", 2: None}  # worker 2 is not there
        assert await second.gather("metrics") == {0: b"metrics from 0", 2: None}
        await first.close()
        assert await second.gather("metrics") == {0: None, 2: None}
        replacement = WorkerSlot(tmp_path, 3)  # a restarted worker takes the index that was given up
        assert replacement.index == 0
        await replacement.close()
        await second.close()

    asyncio.run(main())


def test_merged_metrics_hold_every_workers_series_labelled():
    metrics = ServiceMetrics(lambda: [("ads", "1", "serving")], lambda: [("ads", "1", 0)],
                             traffic=lambda: [("ads", "1", 100.0)], declared=lambda: [("ads", 3, 3, False)])
    metrics.requests.labels("ads", "1", "predict", "200").inc(5)
    metrics.observer("ads", "1", ["ctr"]).model_call(4, 0.002, {"ctr": np.array([0.1, 0.2, 0.3, 0.9])})
    own = metrics.exposition()
    merged = list(text_string_to_metric_families(merge_expositions({0: own, 1: own, 2: None}).decode()))
    alone = list(text_string_to_metric_families(own.decode()))
    assert [f.name for f in merged] == [f.name for f in alone] + ["ctrkit_worker_up"]
    for family, single in zip(merged, alone):
        assert family.type == single.type and family.documentation == single.documentation
        expected = [(s.name, {**s.labels, "worker": w}, s.value) for w in "01" for s in single.samples]
        assert [(s.name, s.labels, s.value) for s in family.samples] == expected, family.name
    assert [(s.labels["worker"], s.value) for s in merged[-1].samples] == [("0", 1.0), ("1", 1.0), ("2", 0.0)]


def test_a_worker_builds_the_same_guarded_http_protocol_as_one_process(monkeypatch, tmp_path):
    import importlib
    import json
    import sys

    from service.connections import guarded_protocol
    from service.workers import ENV

    settings = Settings(header_timeout_s=2.5, body_timeout_s=3.5, max_header_bytes=12345)
    monkeypatch.setenv(ENV, json.dumps({"settings": settings_payload(settings), "http": "h11",
                                        "run_dir": str(tmp_path), "workers": 2}))
    sys.modules.pop("service.worker_http", None)
    try:
        worker = importlib.import_module("service.worker_http").Protocol
    finally:
        sys.modules.pop("service.worker_http", None)
    alone = guarded_protocol(settings, "h11")
    assert worker.__mro__[1] is alone.__mro__[1]
    assert [(worker.header_timeout, worker.body_timeout, worker.max_header_bytes)] == [
        (alone.header_timeout, alone.body_timeout, alone.max_header_bytes)] == [(2.5, 3.5, 12345)]


def test_a_lowered_thread_runs_below_the_main_thread_and_is_never_raised():
    import threading

    from service.process import lower_priority

    seen = []

    def run():
        me = threading.get_native_id()
        lower_priority(3)
        seen.append(os.getpriority(os.PRIO_PROCESS, me))
        lower_priority(1)  # already lower than that: left as it is
        seen.append(os.getpriority(os.PRIO_PROCESS, me))

    base = os.getpriority(os.PRIO_PROCESS, os.getpid())
    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert seen == [min(19, base + 3)] * 2
    assert os.getpriority(os.PRIO_PROCESS, os.getpid()) == base  # the main thread is untouched


def test_a_port_another_services_workers_listen_on_is_refused():
    """Another ctrkit's workers listen with SO_REUSEPORT, which would let a second port group join theirs and
    split the traffic between two services: the supervisor refuses the port instead."""
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(PortUnavailable, match=f"cannot listen on 127.0.0.1:{port} \\(is the port in use\\?"):
            port_group_socket("127.0.0.1", port)
    with port_group_socket("127.0.0.1", port) as sock:  # free again: bound, as the workers' group
        assert sock.getsockname()[1] == port
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
