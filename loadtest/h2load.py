"""Load driven by ``h2load``: one HTTP/2 POST body over N connections and M streams each, with latency and CPU shares.

``h2load`` (nghttp2's HTTP/2 benchmarking tool, Debian package
``nghttp2-client``) is, like ``wrk``, a C program on an event loop that
spends a few microseconds per request. It speaks HTTP/2, so it drives a unary
gRPC method when given the framed request message as its body
(:func:`loadtest.binary_bodies.grpc_frame`) and gRPC's headers; it sends the
same body every time. Answers are counted by HTTP status from its per-request
log, which also gives the latency percentiles. A gRPC call's own status
travels in HTTP/2 trailers, which ``h2load`` does not read: every call it
completes is an HTTP 200, so the caller counts a gRPC method's outcomes from
the server (:mod:`loadtest.protocols` reads the service's metrics).

Example::

    run = run_h2load("http://127.0.0.1:8500/tensorflow.serving.PredictionService/Predict", frame,
                     headers=GRPC_HEADERS, connections=4, streams=8, seconds=10, watch={"ctrkit": server.pid})
    run["requests"], run["latency_ms"]["p50"], run["cpu_cores"]["h2load"]
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loadtest import procstat

__all__ = ["GRPC_HEADERS", "H2loadMissing", "find_h2load", "h2load_version", "run_h2load"]

GRPC_HEADERS = {"content-type": "application/grpc", "te": "trailers"}
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


class H2loadMissing(RuntimeError):
    """``h2load`` is not on the PATH."""


def find_h2load() -> str:
    """The ``h2load`` executable's path; raises :class:`H2loadMissing` naming the package to install."""
    path = shutil.which("h2load")
    if path is None:
        raise H2loadMissing(
            "h2load, the HTTP/2 load generator the bench drives for gRPC, is not installed: install the "
            "Debian/Ubuntu package `nghttp2-client` (sudo apt-get install nghttp2-client; `make bench` does it "
            "where apt-get exists), `brew install nghttp2` on macOS, or leave the binary protocols out with "
            "--no-protocols"
        )
    return path


def h2load_version(executable: str) -> str:
    """``h2load --version`` (``h2load nghttp2/1.52.0``)."""
    run = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=10)
    return (run.stdout or run.stderr).strip().splitlines()[0]


def _latency_ms(durations_us: list[int]) -> dict[str, float]:
    import numpy as np

    if not durations_us:
        return {key: 0.0 for key in ("p50", "p75", "p90", "p99", "p99.9", "mean", "max")}
    values = np.asarray(durations_us, dtype=np.float64) / 1000
    latency = {f"p{q:g}": float(np.percentile(values, q)) for q in (50, 75, 90, 99, 99.9)}
    latency.update({"mean": float(values.mean()), "max": float(values.max())})
    return latency


def run_h2load(
    url: str,
    body: bytes,
    *,
    connections: int,
    streams: int,
    seconds: int,
    headers: Mapping[str, str] | None = None,
    watch: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Runs ``h2load`` with one thread for ``seconds``: ``connections`` connections, each keeping up to
    ``streams`` requests in flight, every one a ``POST url`` of ``body`` with ``headers``.

    Returns the same figures as :func:`loadtest.wrk.run_wrk`, plus ``streams``:
    answers by HTTP status, latency percentiles of every answer, ``req_per_s``
    of 2xx answers, stream and connection errors, and the cores used by
    ``h2load``, by each process of ``watch`` (name -> pid) and by the machine.
    """
    if connections < 1 or streams < 1 or seconds < 1:
        raise ValueError(f"connections, streams and seconds must be at least 1, got {connections}, {streams}, "
                         f"{seconds}")
    executable = find_h2load()
    with tempfile.TemporaryDirectory(prefix="ctrkit-h2load-") as tmp:
        body_path, log = Path(tmp) / "body", Path(tmp) / "requests.tsv"
        body_path.write_bytes(body)
        command = [executable, "-t", "1", "-c", str(connections), "-m", str(streams), "-D", f"{seconds}s",
                   "--log-file", str(log), "-d", str(body_path)]
        for name, value in (headers or {}).items():
            command += ["-H", f"{name}: {value}"]
        command.append(url)
        with procstat.CpuShares("h2load", watch) as shares:
            run = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
        finished = re.search(r"finished in ([\d.]+)(us|ms|s),", run.stdout)
        if run.returncode != 0 or finished is None:
            raise RuntimeError(f"h2load failed (status {run.returncode}): {' '.join(command)}\n"
                               f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
        # one line per answer: start (us since the epoch), HTTP status, microseconds until the answer's end
        answers = [line.split("\t") for line in log.read_text().splitlines() if line.count("\t") >= 2]
    duration = float(finished[1]) * _UNITS[finished[2]]
    statuses: dict[int, int] = {}
    for fields in answers:
        statuses[int(fields[1])] = statuses.get(int(fields[1]), 0) + 1
    statuses = dict(sorted(statuses.items()))
    ok = sum(n for status, n in statuses.items() if 200 <= status < 300)
    counts = re.search(r"(\d+) errored, (\d+) timeout", run.stdout)
    return {
        "connections": connections,
        "streams": streams,
        "seconds": duration,
        "requests": len(answers),
        "ok": ok,
        "non_2xx": len(answers) - ok,
        "statuses": statuses,
        "socket_errors": {"errored": int(counts[1]), "timeout": int(counts[2])} if counts else {},
        "req_per_s": ok / duration if duration > 0 else 0.0,
        "latency_ms": _latency_ms([int(fields[2]) for fields in answers]),
        "cpu_cores": shares.cores,
    }
