"""Load over the binary protocols, from compiled load generators: ``h2load`` for gRPC, ``wrk`` for REST.

``h2load`` (Debian package ``nghttp2-client``) speaks HTTP/2, so it drives a
unary gRPC method when given the framed request message as its body and the
gRPC headers; ``wrk`` (Debian package ``wrk``) posts a body with any headers,
which covers the Open Inference Protocol's binary tensors as well as JSON.
Both are C programs that spend a few microseconds per request; each run
reports the CPU share the generator itself used (from ``getrusage`` of its
process), so a run shows whether the generator, not the server, was the limit.

``h2load`` counts HTTP/2 answers, and a gRPC error is an HTTP 200 whose
status travels in the trailers: :func:`grpc_load` therefore only measures, and
the caller counts successes from the service's own metrics
(``ctrkit_requests_total`` by endpoint and status).

Example::

    frame = grpc_frame(tf_predict_request(spec, columns, "criteo_deepfm"))
    result = grpc_load("127.0.0.1:8500", "/tensorflow.serving.PredictionService/Predict", frame,
                       concurrency=32, seconds=10, workdir=Path("bench-results"))
    result["requests_per_s"], result["p50_ms"], result["generator_cores"]
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["GeneratorMissing", "grpc_load", "http_load", "percentiles"]

_WRK_SCRIPT = Path(__file__).with_name("wrk_post.lua")


class GeneratorMissing(RuntimeError):
    """A load generator is not installed."""


def _find(program: str, package: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise GeneratorMissing(f"{program} is not installed: install the Debian/Ubuntu package {package} "
                               f"(sudo apt-get install {package}; `make bench` does it where apt-get exists)")
    return path


def percentiles(latencies_s: list[float]) -> dict[str, float]:
    """p50, p95 and p99 in milliseconds."""
    ordered = sorted(latencies_s)
    if not ordered:
        return {"p50_ms": float("nan"), "p95_ms": float("nan"), "p99_ms": float("nan")}

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))] * 1000

    return {"p50_ms": at(50), "p95_ms": at(95), "p99_ms": at(99)}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def grpc_load(target: str, method: str, frame: bytes, concurrency: int, seconds: float, workdir: Path,
              warmup: float = 1.0) -> dict[str, Any]:
    """Unary gRPC calls of ``method`` (``/package.Service/Method``) on ``target`` (``host:port``), each sending
    ``frame`` (:func:`loadtest.binary_bodies.grpc_frame`), ``concurrency`` at a time for ``seconds``."""
    h2load = _find("h2load", "nghttp2-client")
    workdir.mkdir(parents=True, exist_ok=True)
    body = workdir / "grpc-request.bin"
    body.write_bytes(frame)
    log = workdir / "h2load-requests.tsv"
    log.unlink(missing_ok=True)
    connections = min(concurrency, 4)
    streams = -(-concurrency // connections)
    command = [h2load, "-t", "1", "-c", str(connections), "-m", str(streams), "--warm-up-time", f"{int(warmup * 1000)}ms",
               "-D", f"{int(seconds * 1000)}ms", "--log-file", str(log), "-d", str(body),
               "-H", "content-type: application/grpc", "-H", "te: trailers", f"http://{target}{method}"]
    before, started = _children_cpu(), time.monotonic()
    run = subprocess.run(command, capture_output=True, text=True, timeout=seconds + warmup + 60)
    elapsed, cpu = time.monotonic() - started, _children_cpu() - before
    if run.returncode != 0:
        raise RuntimeError(f"h2load failed ({run.returncode}): {run.stderr[-2000:] or run.stdout[-2000:]}")
    latencies = []
    for line in log.read_text().splitlines():
        fields = line.split("\t")
        if len(fields) >= 3 and fields[1] == "200":
            latencies.append(int(fields[2]) / 1e6)
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done", run.stdout)
    return {"requests": len(latencies), "requests_per_s": len(latencies) / seconds, **percentiles(latencies),
            "generator_cores": cpu / elapsed, "completed": int(done[1]) if done else None,
            "concurrency": connections * streams}


def http_load(url: str, body: bytes, headers: Mapping[str, str], concurrency: int, seconds: float, workdir: Path,
              warmup: float = 1.0) -> dict[str, Any]:
    """``POST url`` with ``body`` and ``headers`` from ``wrk``, ``concurrency`` connections for ``seconds``."""
    wrk = _find("wrk", "wrk")
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "http-request.bin"
    path.write_bytes(body)
    env = {**os.environ, "WRK_BODY": str(path),
           "WRK_HEADERS": "\n".join(f"{k}: {v}" for k, v in headers.items())}
    if warmup > 0:
        subprocess.run([wrk, "-t", "1", "-c", str(concurrency), "-d", f"{max(1, round(warmup))}s", "-s", str(_WRK_SCRIPT), url],
                       capture_output=True, env=env, timeout=warmup + 60)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "latencies.txt"
        env["WRK_REPORT"] = str(out)
        before, started = _children_cpu(), time.monotonic()
        run = subprocess.run([wrk, "-t", "1", "-c", str(concurrency), "-d", f"{max(1, round(seconds))}s", "--latency",
                              "-s", str(_WRK_SCRIPT), url], capture_output=True, text=True, env=env,
                             timeout=seconds + 60)
        elapsed, cpu = time.monotonic() - started, _children_cpu() - before
        if run.returncode != 0:
            raise RuntimeError(f"wrk failed ({run.returncode}): {run.stderr[-2000:]}")
        report = dict(line.split(" ", 1) for line in out.read_text().split("\n") if " " in line)
    requests, errors = int(report["requests"]), int(report["errors"])
    return {"requests": requests - errors, "requests_per_s": (requests - errors) / seconds, "errors": errors,
            "p50_ms": float(report["p50_us"]) / 1000, "p95_ms": float(report["p95_us"]) / 1000,
            "p99_ms": float(report["p99_us"]) / 1000, "generator_cores": cpu / elapsed,
            "concurrency": concurrency}
