"""Prometheus metrics of the service, kept in a registry of their own per app."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

import numpy as np
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE_LATEST", "ServiceMetrics", "VersionObserver"]

_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)
_ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)
# CTR scores crowd the low end of [0, 1]
SCORE_BUCKETS = (
    0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0,
)

# (model, version, state), (model, version, queued rows) and (model, version, percent) triples
VersionStates = Callable[[], Iterable[tuple[str, str, str]]]
QueueDepths = Callable[[], Iterable[tuple[str, str, int]]]
TrafficShares = Callable[[], Iterable[tuple[str, str, float]]]


class _ScoreHistograms(Collector):
    """Histograms of predicted scores, filled a whole batch at a time with numpy."""

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = np.asarray(bounds, dtype=np.float64)
        self._lock = threading.Lock()
        self._data: dict[tuple[str, str, str], list] = {}

    def observe(self, key: tuple[str, str, str], scores: np.ndarray) -> None:
        idx = np.searchsorted(self._bounds, scores, side="left")
        counts = np.bincount(idx, minlength=len(self._bounds) + 1)
        total = float(np.sum(scores, dtype=np.float64))
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                self._data[key] = [counts.astype(np.int64), total]
            else:
                entry[0] += counts
                entry[1] += total

    def forget(self, model: str, version: str) -> None:
        with self._lock:
            for key in [k for k in self._data if k[:2] == (model, version)]:
                del self._data[key]

    def collect(self) -> Iterable[HistogramMetricFamily]:
        family = HistogramMetricFamily(
            "ctrkit_prediction_score",
            "Predicted scores per model version and output (watch for drift).",
            labels=["model", "version", "output"],
        )
        with self._lock:
            items = [(k, v[0].copy(), v[1]) for k, v in self._data.items()]
        labels_le = [repr(float(b)) for b in self._bounds] + ["+Inf"]
        for key, counts, total in items:
            cumulative = np.cumsum(counts)
            family.add_metric(list(key), list(zip(labels_le, cumulative.tolist())), total)
        yield family

    def describe(self) -> Iterable[HistogramMetricFamily]:
        yield HistogramMetricFamily(
            "ctrkit_prediction_score", "Predicted scores per model version and output (watch for drift).",
            labels=["model", "version", "output"],
        )


class _StateCollector(Collector):
    """Gauges read at scrape time from the model registry and the batchers."""

    def __init__(self, states: VersionStates, depths: QueueDepths, traffic: TrafficShares | None) -> None:
        self._states = states
        self._depths = depths
        self._traffic = traffic

    def collect(self) -> Iterable[GaugeMetricFamily]:
        versions = GaugeMetricFamily(
            "ctrkit_model_versions",
            "Model versions known to the service, 1 per (model, version) in its current state.",
            labels=["model", "version", "state"],
        )
        for model, version, state in self._states():
            versions.add_metric([model, version, state], 1.0)
        yield versions
        depth = GaugeMetricFamily(
            "ctrkit_queue_rows", "Rows waiting for a model call.", labels=["model", "version"]
        )
        for model, version, rows in self._depths():
            depth.add_metric([model, version], float(rows))
        yield depth
        if self._traffic is not None:
            share = GaugeMetricFamily(
                "ctrkit_traffic_percent",
                "Percent of requests naming no version that each loaded version receives (canary split).",
                labels=["model", "version"],
            )
            for model, version, percent in self._traffic():
                share.add_metric([model, version], float(percent))
            yield share

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return []


class VersionObserver:
    """Batch measurements of one model version, with the label children resolved once."""

    def __init__(self, metrics: "ServiceMetrics", model: str, version: str, outputs: Iterable[str]) -> None:
        self._wait = metrics.queue_wait.labels(model, version)
        self._call = metrics.model_call.labels(model, version)
        self._rows = metrics.batch_rows.labels(model, version)
        self._scored = metrics.rows_scored.labels(model, version)
        self._dropped = metrics.rows_dropped.labels(model, version)
        self._scores = metrics.scores
        self._keys = {name: (model, version, name) for name in outputs}

    def queue_wait(self, seconds: float) -> None:
        self._wait.observe(seconds)

    def dropped(self, rows: int) -> None:
        self._dropped.inc(rows)

    def model_call(self, rows: int, seconds: float, outputs: dict[str, np.ndarray]) -> None:
        self._call.observe(seconds)
        self._rows.observe(rows)
        self._scored.inc(rows)
        for name, scores in outputs.items():
            key = self._keys.get(name)
            if key is not None:
                self._scores.observe(key, scores)


class ServiceMetrics:
    """Every metric of one app, in its own :class:`CollectorRegistry`.

    Args:
        states: called at scrape time, yields ``(model, version, state)``.
        depths: called at scrape time, yields ``(model, version, queued rows)``.
        process: also export the process, platform and GC collectors.
        traffic: called at scrape time, yields ``(model, version, percent of requests)``.
    """

    def __init__(
        self, states: VersionStates, depths: QueueDepths, process: bool = True,
        traffic: TrafficShares | None = None,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "ctrkit_requests", "Requests answered, by model, version, endpoint and HTTP status.",
            ["model", "version", "endpoint", "status"], registry=r,
        )
        self.request_latency = Histogram(
            "ctrkit_request_duration_seconds", "Time from request to answer.",
            ["endpoint"], buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.queue_wait = Histogram(
            "ctrkit_queue_wait_seconds", "Time rows waited in the batching queue.",
            ["model", "version"], buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.model_call = Histogram(
            "ctrkit_model_call_duration_seconds", "Duration of one model call (a merged batch).",
            ["model", "version"], buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.batch_rows = Histogram(
            "ctrkit_model_call_rows", "Rows per model call (shows how much batching merges).",
            ["model", "version"], buckets=_ROW_BUCKETS, registry=r,
        )
        self.rows_scored = Counter(
            "ctrkit_rows_scored", "Rows scored.", ["model", "version"], registry=r,
        )
        self.rows_dropped = Counter(
            "ctrkit_rows_dropped", "Rows not scored because their deadline passed while they waited.",
            ["model", "version"], registry=r,
        )
        self.refused = Counter(
            "ctrkit_requests_refused", "Requests refused with 503 before their work was done, by the bound they hit "
            "(body_bytes: bytes being read and parsed; queue: rows queued or the wait they imply).",
            ["reason"], registry=r,
        )
        self.model_loads = Counter(
            "ctrkit_model_loads", "Model version loads, by result (ok, failed).",
            ["model", "result"], registry=r,
        )
        self.model_load_duration = Histogram(
            "ctrkit_model_load_duration_seconds", "Time to load and warm up a model version.",
            ["model"], buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120), registry=r,
        )
        self.scores = _ScoreHistograms(SCORE_BUCKETS)
        r.register(self.scores)
        r.register(_StateCollector(states, depths, traffic))
        if process:
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
            GCCollector(registry=r)

    def observer(self, model: str, version: str, outputs: Iterable[str]) -> VersionObserver:
        return VersionObserver(self, model, version, outputs)

    def forget(self, model: str, version: str) -> None:
        """Drops the series of a version that is gone."""
        for metric in (self.queue_wait, self.model_call, self.batch_rows, self.rows_scored, self.rows_dropped):
            try:
                metric.remove(model, version)
            except KeyError:
                pass
        self.scores.forget(model, version)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
