"""Benchmark report: the service's rows/s and latency beside the raw model's limit.

One run:

1. takes a bundle's version directory (``--model-dir``), or exports a
   Criteo-like DeepFM (26 hashed string + 13 dense features, embedding 16,
   MLP 256-256) into a temporary repository;
2. measures the raw model limit: rows/s of the bundle's ``serving_default``
   signature (39 named inputs) and, when present, its ``serving_packed``
   signature, called in-process at each ``--batch-sizes``;
3. starts ``ctrkit serve`` in a subprocess on a free loopback port and, for
   each ``--rows`` (rows per request) and ``--concurrency`` (requests in
   flight), sends requests built from the model's feature spec (Zipf-like
   values, see ``requestgen.py``) from httpx async clients in
   ``--client-processes`` processes, bounded by ``--seconds`` and
   ``--max-requests``; it records rows/s, p50/p95/p99 latency, errors, and the
   mean rows per model call the service's own metrics show; beforehand it
   measures the transport floor, ``GET /healthz`` from the same clients, which
   shows how many requests the clients and HTTP allow without any model work;
4. writes ``report.json`` and ``latency_throughput.png`` into ``--out`` and
   prints the ratio of the best service rows/s to the best raw rows/s.

The clients run on the same machine as the service and take CPU from it; the
figures are what this machine gives with both on it.

Usage: ``python loadtest/bench.py [--model-dir models/criteo_deepfm/1] [--out bench-results]``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import multiprocessing as mp
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from loadtest.requestgen import RequestGenerator  # noqa: E402
from loadtest.service_bench import export_criteo_deepfm, free_port  # noqa: E402

__all__ = ["main", "raw_limits", "run_benchmark"]

_BODIES_PER_CELL = 8


def _log(message: str) -> None:
    print(message, flush=True)


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


# -- the raw model limit -----------------------------------------------------------

def _packed_inputs(spec: dict[str, Any], tensors: dict[str, Any]) -> dict[str, Any]:
    """``serving_packed`` inputs: each dtype group's columns side by side in one 2-D tensor."""
    import numpy as np
    import tensorflow as tf

    dtypes = {"strings": tf.string, "ints": tf.int64, "floats": tf.float32}
    packed = {}
    for group, columns in spec["packed"].items():
        parts = []
        for name, width in columns:
            value = tensors[name].numpy()
            parts.append(value.reshape(len(value), width))
        matrix = np.concatenate(parts, axis=1)
        packed[group] = tf.constant(matrix, dtype=dtypes[group])
    return packed


def _time_calls(call: Any, inputs: dict[str, Any], seconds: float) -> tuple[int, float]:
    for _ in range(3):
        call(**inputs)
    calls, start = 0, time.perf_counter()
    while calls < 5 or time.perf_counter() - start < seconds:
        outputs = call(**inputs)
        for value in outputs.values():
            value.numpy()
        calls += 1
    return calls, time.perf_counter() - start


def raw_limits(version_dir: Path, batch_sizes: Sequence[int], seconds: float) -> dict[str, dict[str, dict[str, float]]]:
    """Rows/s and ms per call of the bundle's signatures called in-process, per batch size."""
    from ctrkit.export import load_bundle

    bundle = load_bundle(version_dir)
    generator = RequestGenerator(bundle.spec, seed=1)
    signatures = {"serving_default": bundle.signature}
    if bundle.packed_signature is not None and bundle.spec.get("packed"):
        signatures["serving_packed"] = bundle.packed_signature
    results: dict[str, dict[str, dict[str, float]]] = {name: {} for name in signatures}
    for batch in batch_sizes:
        columns = generator.columns(batch)
        for entry in bundle.spec["features"]:  # length inputs: the service derives them the same way
            if entry["kind"] == "length":
                columns[entry["name"]] = [len(v) for v in columns[entry["length_of"]]]
        tensors = bundle.to_tensors(columns)
        for name, signature in signatures.items():
            inputs = tensors if name == "serving_default" else _packed_inputs(bundle.spec, tensors)
            calls, elapsed = _time_calls(signature, inputs, seconds)
            rate = calls * batch / elapsed
            results[name][str(batch)] = {"rows_per_s": rate, "ms_per_call": elapsed / calls * 1000}
            _log(f"  raw {name:15s} batch {batch:5d}: {rate:11,.0f} rows/s  {elapsed / calls * 1000:8.2f} ms/call")
    return results


# -- load clients ---------------------------------------------------------------------

def _client_worker(url: str, jobs: Any, results: Any) -> None:
    """A client process: runs every load job it is given until it gets ``None``."""
    import httpx

    async def run(path: str, bodies: list[bytes], concurrency: int, warmup: float, seconds: float,
                  max_requests: int) -> dict[str, Any]:
        latencies: list[float] = []
        statuses: dict[str, int] = {}
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        headers = {"content-type": "application/json"}
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
            begin = time.perf_counter()
            t0, t1 = begin + warmup, begin + warmup + seconds

            async def one_loop(offset: int) -> None:
                i = offset
                while len(latencies) < max_requests:
                    start = time.perf_counter()
                    if start >= t1:
                        return
                    try:
                        if bodies:
                            answer = await client.post(path, content=bodies[i % len(bodies)], headers=headers)
                        else:
                            answer = await client.get(path)
                        status = str(answer.status_code)
                    except httpx.HTTPError as exc:
                        status = type(exc).__name__
                    end = time.perf_counter()
                    i += 1
                    if t0 <= end <= t1:
                        statuses[status] = statuses.get(status, 0) + 1
                        if status == "200":
                            latencies.append(end - start)

            await asyncio.gather(*(one_loop(k) for k in range(concurrency)))
        return {"latencies": latencies, "statuses": statuses}

    while True:
        job = jobs.get()
        if job is None:
            return
        results.put(asyncio.run(run(**job)))


class ClientPool:
    """Client processes, started once and reused by every load cell."""

    def __init__(self, url: str, processes: int) -> None:
        ctx = mp.get_context("spawn")
        self.jobs = [ctx.Queue() for _ in range(processes)]
        self.results = ctx.Queue()
        self.procs = [ctx.Process(target=_client_worker, args=(url, q, self.results), daemon=True) for q in self.jobs]
        for proc in self.procs:
            proc.start()

    def run(self, path: str, bodies: list[bytes], concurrency: int, warmup: float, seconds: float,
            max_requests: int) -> dict[str, Any]:
        """Latencies of the successful requests and counts by status; ``GET path`` when ``bodies`` is empty."""
        active = min(concurrency, len(self.procs))
        for k in range(active):
            share = concurrency // active + (1 if k < concurrency % active else 0)
            self.jobs[k].put({"path": path, "bodies": bodies, "concurrency": share, "warmup": warmup,
                              "seconds": seconds, "max_requests": max(1, max_requests // active)})
        latencies: list[float] = []
        statuses: dict[str, int] = {}
        for _ in range(active):
            part = self.results.get(timeout=warmup + seconds + 120)
            latencies += part["latencies"]
            for status, count in part["statuses"].items():
                statuses[status] = statuses.get(status, 0) + count
        return {"latencies": latencies, "statuses": statuses}

    def close(self) -> None:
        for q in self.jobs:
            q.put(None)
        for proc in self.procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()


# -- the service under test --------------------------------------------------------------

def start_service(repo: Path, port: int, serve_args: Sequence[str], log_path: Path) -> subprocess.Popen:
    """``ctrkit serve`` on 127.0.0.1:``port`` in a subprocess, output into ``log_path``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, "-m", "ctrkit.cli", "serve", "--model-repository", str(repo), "--host", "127.0.0.1",
               "--port", str(port), "--poll-interval-s", "0", "--log-level", "warning", *serve_args]
    with log_path.open("wb") as log:
        return subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def wait_ready(url: str, process: subprocess.Popen, timeout: float, log_path: Path) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    tail = log_path.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"the service at {url} did not become ready; its output:\n{tail}")


def stop_service(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _call_rows(url: str) -> tuple[float, float]:
    """Sum and count of the service's rows-per-model-call histogram (all versions)."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{url}/metrics", timeout=10).text
    total = count = 0.0
    for family in text_string_to_metric_families(text):
        if family.name == "ctrkit_model_call_rows":
            for sample in family.samples:
                if sample.name.endswith("_sum"):
                    total += sample.value
                elif sample.name.endswith("_count"):
                    count += sample.value
    return total, count


# -- report ---------------------------------------------------------------------------------

def plot(report: dict[str, Any], path: Path) -> None:
    """Latency (p50 solid, p99 dashed) against rows/s, one colour per rows-per-request."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=110)
    cells = report["service"]
    for k, rows in enumerate(sorted({c["rows_per_request"] for c in cells})):
        line = sorted((c for c in cells if c["rows_per_request"] == rows and c["requests"]),
                      key=lambda c: c["concurrency"])
        if not line:
            continue
        colour = f"C{k}"
        x = [c["rows_per_s"] for c in line]
        ax.plot(x, [c["p50_ms"] for c in line], "o-", color=colour, label=f"{rows} rows/request, p50")
        ax.plot(x, [c["p99_ms"] for c in line], "x--", color=colour, alpha=0.7, label=f"{rows} rows/request, p99")
        for c in line:
            ax.annotate(f"c={c['concurrency']}", (c["rows_per_s"], c["p50_ms"]), textcoords="offset points",
                        xytext=(4, -10), fontsize=7, color=colour)
    for k, (name, by_batch) in enumerate(report["raw"].items()):
        best = max(by_batch.values(), key=lambda r: r["rows_per_s"])
        ax.axvline(best["rows_per_s"], color="0.3", linestyle=[":", "-."][k % 2], linewidth=1,
                   label=f"raw {name} best ({best['rows_per_s']:,.0f} rows/s)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("rows scored per second")
    ax.set_ylabel("request latency (ms)")
    ratio = report["ratio"]["service_over_raw"]
    ax.set_title(f"{report['model']['name']} ({report['model']['class']}): service vs raw model, "
                 f"{report['machine']['cpus']} CPUs; best service/raw = {ratio:.2f}", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """Runs every measurement of ``args`` (see :func:`build_parser`) and returns the report."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ctrkit-bench-") as tmp:
        if args.model_dir is None:
            _log("exporting a Criteo-like DeepFM (26 hashed + 13 dense features, embedding 16, MLP 256-256) ...")
            version_dir = export_criteo_deepfm(Path(tmp) / "models")
        else:
            version_dir = Path(args.model_dir).resolve()
        spec = json.loads((version_dir / "feature_spec.json").read_text())
        model = spec["model"]["name"]

        _log(f"[1/2] raw model limit, {version_dir} ({len(spec['features'])} inputs)")
        raw = raw_limits(version_dir, args.batch_sizes, args.raw_seconds)

        # the service reads <repository>/<model>/<version>: give it a repository with this version only
        repo = Path(tmp) / "serve"
        (repo / model).mkdir(parents=True)
        (repo / model / version_dir.name).symlink_to(version_dir, target_is_directory=True)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log_path = out / "service.log"
        _log(f"[2/2] starting ctrkit serve on {url} (log: {log_path}) ...")
        process = start_service(repo, port, args.serve_arg, log_path)
        cells: list[dict[str, Any]] = []
        floor: list[dict[str, Any]] = []
        pool = None
        try:
            wait_ready(url, process, 180, log_path)
            pool = ClientPool(url, args.client_processes)
            # what the clients and HTTP alone allow: GET /healthz does no model work
            for concurrency in sorted({1, max(args.concurrency)}):
                result = pool.run("/healthz", [], concurrency, args.warmup, args.floor_seconds, args.max_requests)
                lat = sorted(result["latencies"])
                floor.append({"concurrency": concurrency, "requests_per_s": len(lat) / args.floor_seconds,
                              "p50_ms": _percentile(lat, 50) * 1000, "p99_ms": _percentile(lat, 99) * 1000})
                _log(f"  transport floor, GET /healthz x {concurrency:3d} in flight: "
                     f"{floor[-1]['requests_per_s']:8,.0f} req/s  p50 {floor[-1]['p50_ms']:7.2f} ms")
            generator = RequestGenerator(spec, seed=2)
            grid = [(r, c) for r in args.rows for c in args.concurrency]
            for index, (rows, concurrency) in enumerate(grid, 1):
                bodies = [generator.body(rows, args.form, model=model) for _ in range(_BODIES_PER_CELL)]
                before = _call_rows(url)
                result = pool.run("/predict", bodies, concurrency, args.warmup, args.seconds, args.max_requests)
                after = _call_rows(url)
                lat = sorted(result["latencies"])
                calls = after[1] - before[1]
                cell = {
                    "rows_per_request": rows,
                    "concurrency": concurrency,
                    "body_bytes": sum(map(len, bodies)) // len(bodies),
                    "requests": len(lat),
                    "rows_per_s": len(lat) * rows / args.seconds,
                    "requests_per_s": len(lat) / args.seconds,
                    "p50_ms": _percentile(lat, 50) * 1000,
                    "p95_ms": _percentile(lat, 95) * 1000,
                    "p99_ms": _percentile(lat, 99) * 1000,
                    "statuses": result["statuses"],
                    "errors": sum(n for s, n in result["statuses"].items() if s != "200"),
                    "mean_rows_per_model_call": (after[0] - before[0]) / calls if calls else None,
                }
                cells.append(cell)
                merged = cell["mean_rows_per_model_call"]
                _log(f"  [{index}/{len(grid)}] {rows:4d} rows x {concurrency:3d} in flight: "
                     f"{cell['rows_per_s']:10,.0f} rows/s {cell['requests_per_s']:7,.0f} req/s  "
                     f"p50 {cell['p50_ms']:7.2f}  p95 {cell['p95_ms']:7.2f}  p99 {cell['p99_ms']:7.2f} ms  "
                     f"errors {cell['errors']}  rows/model call {merged if merged is None else round(merged, 1)}")
        finally:
            if pool is not None:
                pool.close()
            stop_service(process)

    best_raw = {name: max(r["rows_per_s"] for r in by_batch.values()) for name, by_batch in raw.items()}
    best_service = max(cells, key=lambda c: c["rows_per_s"])
    report = {
        "created_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": " ".join(["python", "loadtest/bench.py", *args.argv]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_average_at_start": list(os.getloadavg())},
        "model": {"name": model, "class": spec["model"].get("class"), "inputs": len(spec["features"]),
                  "dir": str(version_dir) if args.model_dir else "exported for this run"},
        "settings": {"batch_sizes": args.batch_sizes, "raw_seconds": args.raw_seconds, "rows": args.rows,
                     "concurrency": args.concurrency, "seconds": args.seconds, "warmup": args.warmup,
                     "floor_seconds": args.floor_seconds, "max_requests": args.max_requests, "form": args.form,
                     "client_processes": args.client_processes, "serve_args": args.serve_arg},
        "raw": raw,
        "transport_floor": floor,
        "service": cells,
        "ratio": {
            "service_over_raw": best_service["rows_per_s"] / max(best_raw.values()),
            **{f"service_over_{name}": best_service["rows_per_s"] / rate for name, rate in best_raw.items()},
            "best_service_cell": {k: best_service[k] for k in ("rows_per_request", "concurrency", "rows_per_s")},
        },
        "seconds": round(time.perf_counter() - started, 1),
    }
    (out / "report.json").write_text(json.dumps(report, indent=2))
    plot(report, out / "latency_throughput.png")
    return report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ctrkit bench", description="Benchmark the service against the raw model (JSON report and plot)."
    )
    parser.add_argument("--model-dir", type=Path, help="a bundle's version directory (default: export a DeepFM)")
    parser.add_argument("--out", type=Path, default=Path("bench-results"), help="where report.json and the plot go")
    parser.add_argument("--batch-sizes", type=_int_list, default=[1, 64, 256, 1024, 4096],
                        help="raw signature batch sizes")
    parser.add_argument("--raw-seconds", type=float, default=1.5, help="timing per raw batch size and signature")
    parser.add_argument("--rows", type=_int_list, default=[1, 20, 100], help="rows per request")
    parser.add_argument("--concurrency", type=_int_list, default=[1, 8, 32], help="requests in flight")
    parser.add_argument("--seconds", type=float, default=4.0, help="measured seconds per load cell")
    parser.add_argument("--floor-seconds", type=float, default=2.0,
                        help="measured seconds of each GET /healthz transport-floor cell")
    parser.add_argument("--warmup", type=float, default=0.5, help="unmeasured seconds before each load cell")
    parser.add_argument("--max-requests", type=int, default=200_000, help="most measured requests per load cell")
    parser.add_argument("--form", choices=["rows", "columns"], default="rows", help="request body form")
    parser.add_argument("--client-processes", type=int, default=2, help="load client processes")
    parser.add_argument("--serve-arg", action="append", default=[],
                        help="extra `ctrkit serve` option, repeatable (e.g. --serve-arg=--max-batch-rows=2048)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point (``python loadtest/bench.py`` or ``ctrkit bench``); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    if args.client_processes < 1 or args.seconds <= 0 or args.floor_seconds <= 0 or args.max_requests < 1:
        build_parser().error("--client-processes, --seconds, --floor-seconds and --max-requests must be positive")
    report = run_benchmark(args)
    ratio = report["ratio"]
    best = ratio["best_service_cell"]
    _log(f"best service: {best['rows_per_s']:,.0f} rows/s ({best['rows_per_request']} rows/request, "
         f"{best['concurrency']} in flight); service/raw = {ratio['service_over_raw']:.2f}")
    _log(f"report: {Path(args.out) / 'report.json'}  plot: {Path(args.out) / 'latency_throughput.png'}  "
         f"({report['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
