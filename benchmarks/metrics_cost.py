"""What the Prometheus metrics cost a request, kept in memory or in prometheus-client's multiprocess files.

    python benchmarks/metrics_cost.py [--requests 100000]

With several workers on one port, the metrics must add up across processes.
prometheus-client's multiprocess mode does it by writing every observation to
memory-mapped files; ctrkit keeps each worker's metrics in its own memory and
gathers the workers' expositions when /metrics is scraped. This benchmark times
the observations one request makes on its way through the service (request
counter and latency, queue wait, one model call: duration, rows, rows scored,
score histogram) with the service's own metric objects, once in memory and once
in multiprocess mode (each in a fresh process: the mode is chosen at import),
and then the scrape-time merge of several workers' expositions. Figures come
from one run on one machine: compare them with each other.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def per_request(requests: int, rounds: int = 7) -> float:
    """Median seconds of one request's observations (best of several rounds' medians)."""
    import numpy as np

    from service.metrics import ServiceMetrics

    metrics = ServiceMetrics(lambda: [], lambda: [], process=False)
    counter = metrics.requests.labels("criteo_deepfm", "1", "predict", "200")
    latency = metrics.request_latency.labels("predict")
    observer = metrics.observer("criteo_deepfm", "1", ["ctr"])
    scores = {"ctr": np.random.default_rng(0).uniform(0, 0.3, 1).astype(np.float32)}
    results = []
    for _ in range(rounds):
        started = time.perf_counter()
        for i in range(requests):
            observer.queue_wait(0.0004)
            observer.model_call(1, 0.0009, scores)
            counter.inc()
            latency.observe(0.0031)
        results.append((time.perf_counter() - started) / requests)
    return statistics.median(results)


def scrape_merge(workers: int, rounds: int = 20) -> tuple[float, int]:
    """Seconds to merge ``workers`` expositions of a serving process into one, and the bytes it gives."""
    import numpy as np

    from service.metrics import ServiceMetrics, merge_expositions

    metrics = ServiceMetrics(lambda: [("criteo_deepfm", "1", "serving")], lambda: [("criteo_deepfm", "1", 0)],
                             traffic=lambda: [("criteo_deepfm", "1", 100.0)],
                             declared=lambda: [("criteo_deepfm", 3, 3, False)])
    for endpoint in ("predict", "tf_predict"):
        for status in ("200", "422", "503"):
            metrics.requests.labels("criteo_deepfm", "1", endpoint, status).inc()
        metrics.request_latency.labels(endpoint).observe(0.003)
    observer = metrics.observer("criteo_deepfm", "1", ["ctr"])
    observer.queue_wait(0.001)
    observer.model_call(100, 0.002, {"ctr": np.random.default_rng(0).uniform(0, 1, 100)})
    text = metrics.exposition()
    parts = {i: text for i in range(workers)}
    merged = merge_expositions(parts)
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        merge_expositions(parts)
        times.append(time.perf_counter() - started)
    return statistics.median(times), len(merged)


def child(requests: int) -> None:
    print(json.dumps({"seconds": per_request(requests),
                      "multiprocess": bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))}))


def run_child(requests: int, multiprocess: bool) -> float:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with tempfile.TemporaryDirectory() as files:
        if multiprocess:
            env["PROMETHEUS_MULTIPROC_DIR"] = files
        out = subprocess.run([sys.executable, __file__, "--child", "--requests", str(requests)], env=env,
                             capture_output=True, text=True, check=True).stdout
    answer = json.loads(out.strip().splitlines()[-1])
    assert answer["multiprocess"] == multiprocess
    return answer["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100_000, metavar="N",
                        help="simulated requests timed in each mode (default: %(default)s)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.requests)
        return
    sys.path.insert(0, str(ROOT))
    memory = run_child(args.requests, multiprocess=False)
    mmap = run_child(args.requests, multiprocess=True)
    print(f"observations of one request, in memory (ctrkit):       {memory * 1e6:7.2f} us")
    print(f"observations of one request, multiprocess mode (mmap): {mmap * 1e6:7.2f} us "
          f"({mmap / memory:.2f}x, +{(mmap - memory) * 1e6:.2f} us per request)")
    for workers in (2, 4, 8):
        seconds, size = scrape_merge(workers)
        print(f"merging {workers} workers' expositions at scrape time: {seconds * 1e3:6.2f} ms ({size // 1024} KB)")


if __name__ == "__main__":
    main()
