"""The bench's binary-protocol cases: the same service over the Open Inference Protocol and TensorFlow Serving gRPC.

Each case loads ``ctrkit serve`` alone, from a compiled generator (``wrk`` for
REST, ``h2load`` for gRPC):

* 100 rows as Open Inference Protocol REST binary tensors
  (``POST /v2/models/{model}/infer``), 32 connections, bodies rotated;
* 100 rows as TensorFlow Serving gRPC ``Predict`` calls, 32 concurrent: 4
  HTTP/2 connections of 8 streams, as a gRPC client multiplexes its calls
  (``h2load`` sends one body throughout);
* 1 row as a TensorFlow Serving gRPC ``Predict`` call, one at a time, and
  the same row as ``POST /predict`` JSON (row form), one at a time: the pair
  whose p50 latencies the bench compares.

Every run also counts the service's answers for the case's endpoint from its
metrics (``ctrkit_requests_total``, before and after the run, each read once
the service has gone quiet). A gRPC call's status travels in HTTP/2 trailers,
which ``h2load`` does not read, so a gRPC run's answers by status are the
service's count, less the calls still in flight when ``h2load`` stopped
(which the service counts as 499, client gone).

Example::

    case = protocol_cases()[1]  # 100 rows over TensorFlow Serving gRPC
    bodies = case_bodies(case, spec, BodyFactory(spec, count=8), "criteo_deepfm")
    url = case_url(case, "http://127.0.0.1:8100", "http://127.0.0.1:8500", "criteo_deepfm")
    run = measure_protocol(case, url, bodies, write_manifest(work, bodies), "http://127.0.0.1:8100",
                           seconds=10, timeout_s=30, watch={"ctrkit": server.pid})
    run["rows_per_s"] = run["req_per_s"] * case.rows
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtest.binary_bodies import grpc_frame, oip_binary_request, tf_predict_request
from loadtest.cases import BodyFactory
from loadtest.h2load import GRPC_HEADERS, run_h2load
from loadtest.requestgen import dumps
from loadtest.wrk import Body, run_wrk

__all__ = ["PROTOCOLS", "ProtocolCase", "case_bodies", "case_url", "measure_protocol", "protocol_cases",
           "service_answers"]

# protocol -> (the service's endpoint label in its metrics, the load generator)
PROTOCOLS = {
    "oip_binary": ("oip_infer", "wrk"),
    "tf_grpc": ("tf_grpc_predict", "h2load"),
    "json": ("predict", "wrk"),
}
TF_PREDICT = "/tensorflow.serving.PredictionService/Predict"
_CLIENT_GONE = "499"


@dataclass(frozen=True)
class ProtocolCase:
    """``connections`` connections each keeping ``streams`` requests of ``rows`` rows in flight over ``protocol``."""

    key: str
    title: str
    protocol: str
    rows: int
    connections: int
    streams: int = 1

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"case {self.key!r}: protocol must be one of {sorted(PROTOCOLS)}, got {self.protocol!r}")
        if min(self.rows, self.connections, self.streams) < 1:
            raise ValueError(f"case {self.key!r}: rows, connections and streams must be at least 1")
        if self.streams > 1 and self.generator != "h2load":
            raise ValueError(f"case {self.key!r}: HTTP/1.1 keeps one request in flight per connection")

    @property
    def endpoint(self) -> str:
        return PROTOCOLS[self.protocol][0]

    @property
    def generator(self) -> str:
        return PROTOCOLS[self.protocol][1]

    @property
    def concurrency(self) -> int:
        return self.connections * self.streams


def protocol_cases() -> list[ProtocolCase]:
    """The binary-protocol cases, in order, each in every round."""
    return [
        ProtocolCase("oip_binary_100rows_32", "100 rows, Open Inference Protocol REST binary tensors, 32 connections",
                     "oip_binary", 100, 32),
        ProtocolCase("tf_grpc_100rows_32", "100 rows, TensorFlow Serving gRPC, 32 concurrent (4 connections x 8)",
                     "tf_grpc", 100, 4, 8),
        ProtocolCase("tf_grpc_1row_1", "1 row, TensorFlow Serving gRPC, 1 at a time", "tf_grpc", 1, 1),
        ProtocolCase("json_1row_1", "the same row, POST /predict JSON (row form), 1 connection", "json", 1, 1),
    ]


def case_bodies(case: ProtocolCase, spec: Mapping[str, Any], factory: BodyFactory, model: str) -> list[Body]:
    """The case's request bodies with their headers, built from the factory's column-form rows.

    OIP bodies are rotated (``factory.count`` of them); a gRPC case has one
    (``h2load`` sends one body throughout), and the JSON case sends the same
    row as the 1-row gRPC case.
    """
    if case.protocol == "oip_binary":
        return [Body(*oip_binary_request(spec, factory.payload("columns", case.rows, i)["inputs"]))
                for i in range(factory.count)]
    columns = factory.payload("columns", case.rows, 0)["inputs"]
    if case.protocol == "tf_grpc":
        return [Body(grpc_frame(tf_predict_request(spec, columns, model)), GRPC_HEADERS)]
    rows = [dict(zip(columns, values)) for values in zip(*columns.values())]
    return [Body(dumps({"instances": rows}))]


def case_url(case: ProtocolCase, http_url: str, grpc_url: str, model: str) -> str:
    """Where the case's requests go, given the service's REST and gRPC base URLs."""
    if case.protocol == "oip_binary":
        return f"{http_url}/v2/models/{model}/infer"
    if case.protocol == "tf_grpc":
        return grpc_url + TF_PREDICT
    return f"{http_url}/predict"


def service_answers(http_url: str) -> dict[str, dict[str, int]]:
    """``endpoint -> {status: answers}`` from the service's ``/metrics`` (summed over models, versions, workers)."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    counts: dict[str, dict[str, int]] = {}
    for family in text_string_to_metric_families(httpx.get(f"{http_url}/metrics", timeout=30).text):
        if family.name == "ctrkit_requests":
            for sample in family.samples:
                if sample.name == "ctrkit_requests_total":
                    by_status = counts.setdefault(sample.labels["endpoint"], {})
                    status = sample.labels["status"]
                    by_status[status] = by_status.get(status, 0) + int(sample.value)
    return counts


def _quiet_answers(http_url: str, quiet_s: float = 0.3, limit_s: float = 10.0) -> dict[str, dict[str, int]]:
    """The service's answers once they have stopped changing for ``quiet_s`` (requests left in flight by the last
    run are counted before the next one starts), or after ``limit_s``."""
    deadline = time.monotonic() + limit_s
    counts = service_answers(http_url)
    stable_since = time.monotonic()
    while time.monotonic() - stable_since < quiet_s and time.monotonic() < deadline:
        time.sleep(0.1)
        latest = service_answers(http_url)
        if latest != counts:
            counts, stable_since = latest, time.monotonic()
    return counts


def measure_protocol(case: ProtocolCase, url: str, bodies: Sequence[Body], manifest: Path, http_url: str, *,
                     seconds: int, timeout_s: int, watch: Mapping[str, int]) -> dict[str, Any]:
    """One run of ``case``: the generator's figures (see :func:`loadtest.wrk.run_wrk`) and ``service_statuses``,
    the answers the service counted for the case's endpoint meanwhile.

    For gRPC, ``statuses``, ``requests``, ``ok``, ``non_2xx`` and ``req_per_s``
    come from the service's count; ``received`` is the number of answers
    ``h2load`` read (its latency sample) and ``stopped_in_flight`` the calls it
    left unanswered when its time was up.
    """
    before = _quiet_answers(http_url).get(case.endpoint, {})
    if case.generator == "h2load":
        run = run_h2load(url, bodies[0].content, headers=bodies[0].headers, connections=case.connections,
                         streams=case.streams, seconds=seconds, watch=watch)
    else:
        run = run_wrk(url, manifest, connections=case.connections, seconds=seconds, timeout_s=timeout_s,
                      watch=watch)
    after = _quiet_answers(http_url).get(case.endpoint, {})
    service = {s: n - before.get(s, 0) for s, n in sorted(after.items(), key=lambda kv: int(kv[0]))
               if n > before.get(s, 0)}
    run["service_statuses"] = service
    if case.generator == "h2load":
        statuses = dict(service)
        stopped = min(statuses.get(_CLIENT_GONE, 0), case.concurrency)
        if stopped:
            statuses[_CLIENT_GONE] -= stopped
            if not statuses[_CLIENT_GONE]:
                del statuses[_CLIENT_GONE]
        ok = sum(n for s, n in statuses.items() if 200 <= int(s) < 300)
        run.update({
            "received": run["requests"], "http_statuses": run["statuses"], "stopped_in_flight": stopped,
            "statuses": {int(s): n for s, n in statuses.items()}, "requests": sum(statuses.values()), "ok": ok,
            "non_2xx": sum(statuses.values()) - ok, "req_per_s": ok / run["seconds"] if run["seconds"] > 0 else 0.0,
        })
    run["streams"] = case.streams
    return run
