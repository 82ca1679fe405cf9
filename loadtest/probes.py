"""Probe requests sent while a server is under load, each one's status and latency recorded.

Two streams, each sending one request at a time: ``small_count`` small
requests spread evenly over the run, each sent at its time on a new
connection of its own, whatever the others do; and large requests at
``large_rate`` per second on one kept-alive connection (the next one leaves
when the previous has been answered, at the earliest its turn). No two
streams share a connection pool, so a probe stuck on the server never holds
up another.

Example::

    prober = Prober("http://127.0.0.1:8000/predict", one_row_body, thousand_row_body, seconds=20)
    prober.start()
    ...  # the load runs meanwhile
    for probe in prober.join():
        print(probe["kind"], probe["status"], probe["latency_ms"])
"""

from __future__ import annotations

import threading
import time
from typing import Any

__all__ = ["Prober"]


class Prober:
    """Sends the probes of one run from threads of this process (see the module's description)."""

    def __init__(
        self,
        url: str,
        small_body: bytes,
        large_body: bytes,
        *,
        seconds: float,
        small_count: int = 6,
        large_rate: float = 15.0,
        timeout_s: float = 60.0,
    ) -> None:
        if seconds <= 0 or small_count < 1 or large_rate <= 0:
            raise ValueError("seconds, small_count and large_rate must be positive")
        self.url = url
        self.bodies = {"small": small_body, "large": large_body}
        self.seconds = seconds
        self.small_count = small_count
        self.large_rate = large_rate
        self.timeout_s = timeout_s
        self.results: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._start = 0.0

    def _client(self) -> Any:
        import httpx

        return httpx.Client(timeout=self.timeout_s, headers={"content-type": "application/json"})

    def _send(self, client: Any, kind: str) -> None:
        import httpx

        sent = time.perf_counter()
        try:
            status: int | str = client.post(self.url, content=self.bodies[kind]).status_code
        except httpx.HTTPError as exc:
            status = type(exc).__name__
        latency = (time.perf_counter() - sent) * 1000
        with self._lock:
            self.results.append({"kind": kind, "sent_s": sent - self._start, "status": status, "latency_ms": latency})

    def _small_at(self, offset: float) -> None:
        with self._client() as client:  # made before its turn: only the request itself is timed
            time.sleep(max(0.0, self._start + offset - time.perf_counter()))
            self._send(client, "small")

    def _large_stream(self) -> None:
        interval = 1.0 / self.large_rate
        turn = self._start
        with self._client() as client:
            while turn < self._start + self.seconds:
                time.sleep(max(0.0, turn - time.perf_counter()))
                self._send(client, "large")
                turn = max(turn + interval, time.perf_counter())

    def start(self) -> None:
        """Starts both streams now; the run is ``seconds`` long from here."""
        self._start = time.perf_counter()
        offsets = [self.seconds * (i + 1) / (self.small_count + 1) for i in range(self.small_count)]
        self._threads = [threading.Thread(target=self._small_at, args=(t,), daemon=True) for t in offsets]
        self._threads.append(threading.Thread(target=self._large_stream, daemon=True))
        for thread in self._threads:
            thread.start()

    def join(self) -> list[dict[str, Any]]:
        """Waits for every probe's answer; returns them by sending time."""
        for thread in self._threads:
            thread.join()
        return sorted(self.results, key=lambda r: r["sent_s"])
