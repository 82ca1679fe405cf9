"""Benchmark: the service's throughput beside the raw model's own.

In one run it

1. exports a Criteo-like DeepFM (26 hashed categorical + 13 dense features,
   embedding 16, MLP 256-256) unless ``--model-dir`` names a bundle's version
   directory, and measures the raw rows/s of its ``serving_default`` signature
   called in-process on batches of 1024 and 4096 rows;
2. starts ``ctrkit serve`` on a loopback port in a process of its own and loads
   it with concurrent httpx async clients (in separate processes) sending
   1-row and 100-row requests, reporting rows/s and p50/p99 latency;
3. prints the ratio of the service's rows/s on 100-row requests to the raw
   large-batch rows/s.

Usage: ``python loadtest/service_bench.py [--seconds 10] [--concurrency 32]``.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CRITEO = ROOT.parent / "shared" / "data" / "criteo_sample.txt"
SPARSE = [f"C{i}" for i in range(1, 27)]
DENSE = [f"I{i}" for i in range(1, 14)]


def export_criteo_deepfm(repo: Path) -> Path:
    from ctrkit.export import export_model
    from ctrkit.feature_column import DenseFeat, SparseFeat
    from ctrkit.models import DeepFM

    columns = [SparseFeat(c, 10_000, 16, use_hash=True, dtype="string") for c in SPARSE]
    columns += [DenseFeat(d, 1) for d in DENSE]
    model = DeepFM(columns, columns, dnn_hidden_units=(256, 256))
    defaults = {**{c: "" for c in SPARSE}, **{d: 0.0 for d in DENSE}}
    return export_model(model, repo / "criteo_deepfm", columns, defaults=defaults)


def criteo_rows(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` rows of raw Criteo features (from the sample file when present)."""
    rng = np.random.default_rng(seed)
    source: list[dict[str, Any]] = []
    if CRITEO.is_file():
        with CRITEO.open() as fh:
            for record in csv.DictReader(fh):
                row: dict[str, Any] = {c: record[c] for c in SPARSE}
                row.update({d: float(record[d]) if record[d] else 0.0 for d in DENSE})
                source.append(row)
    if not source:
        for _ in range(256):
            row = {c: f"{rng.integers(0, 1 << 32):08x}" for c in SPARSE}
            row.update({d: float(rng.integers(0, 100)) for d in DENSE})
            source.append(row)
    return [source[i] for i in rng.integers(0, len(source), n)]


def raw_throughput(version_dir: Path, seconds: float) -> dict[int, float]:
    """Rows/s of the signature called in-process on batches of 1024 and 4096."""
    import tensorflow as tf

    from ctrkit.export import load_bundle

    bundle = load_bundle(version_dir)
    result = {}
    for batch in (1024, 4096):
        rows = criteo_rows(batch, seed=batch)
        tensors = {
            c: tf.constant(np.array([r[c] for r in rows], dtype=object)) for c in SPARSE
        } | {d: tf.constant(np.array([r[d] for r in rows], dtype=np.float32)) for d in DENSE}
        for _ in range(3):
            bundle.signature(**tensors)
        calls, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / 2 or calls < 5:
            out = bundle.signature(**tensors)
            out["ctr"].numpy()
            calls += 1
        result[batch] = calls * batch / (time.perf_counter() - start)
    return result


def _client(url: str, body: bytes, rows: int, concurrency: int, seconds: float, queue: Any) -> None:
    import httpx

    async def main() -> list[float]:
        latencies: list[float] = []
        errors = 0
        stop = time.perf_counter() + seconds
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        headers = {"content-type": "application/json"}
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
            async def worker() -> None:
                nonlocal errors
                while time.perf_counter() < stop:
                    t0 = time.perf_counter()
                    answer = await client.post("/predict", content=body, headers=headers)
                    if answer.status_code == 200:
                        latencies.append(time.perf_counter() - t0)
                    else:
                        errors += 1

            await asyncio.gather(*(worker() for _ in range(concurrency)))
        queue.put((latencies, errors))
        return latencies

    asyncio.run(main())


def service_throughput(url: str, body: bytes, rows: int, processes: int, concurrency: int, seconds: float) -> dict[str, float]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    workers = [
        ctx.Process(target=_client, args=(url, body, rows, concurrency, seconds, queue)) for _ in range(processes)
    ]
    for w in workers:
        w.start()
    latencies: list[float] = []
    errors = 0
    for _ in workers:
        lat, err = queue.get(timeout=seconds + 120)
        latencies += lat
        errors += err
    for w in workers:
        w.join()
    lat = np.array(latencies)
    return {
        "requests": len(lat),
        "errors": errors,
        "rows_per_s": len(lat) * rows / seconds,
        "p50_ms": float(np.percentile(lat, 50) * 1000) if len(lat) else float("nan"),
        "p99_ms": float(np.percentile(lat, 99) * 1000) if len(lat) else float("nan"),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, help="a bundle's version directory (default: export one)")
    parser.add_argument("--seconds", type=float, default=8.0, help="duration of each load phase")
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight per client process")
    parser.add_argument("--form", choices=["rows", "columns"], default="rows", help="payload form")
    parser.add_argument("--serve-arg", action="append", default=[], help="extra ctrkit serve option (repeatable)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(ROOT))

    with tempfile.TemporaryDirectory() as tmp:
        if args.model_dir is None:
            version_dir = export_criteo_deepfm(Path(tmp) / "models")
        else:
            version_dir = args.model_dir.resolve()
        repo = version_dir.parent.parent
        model = version_dir.parent.name

        raw = raw_throughput(version_dir, args.seconds)
        for batch, rate in raw.items():
            print(f"raw signature, batch {batch:5d}: {rate:10.0f} rows/s")

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        server = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "--model-repository", str(repo), "--port", str(port),
             "--poll-interval-s", "0", "--log-level", "warning", *args.serve_arg],
            env=env, cwd=ROOT,
        )
        try:
            import httpx
            import orjson

            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"{url}/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the service did not start")
                time.sleep(0.2)
            results = {}
            for rows in (1, 100):
                data = criteo_rows(rows, seed=rows)
                if args.form == "rows":
                    payload = {"model": model, "instances": data}
                else:
                    payload = {"model": model, "inputs": {k: [r[k] for r in data] for k in data[0]}}
                body = orjson.dumps(payload)
                service_throughput(url, body, rows, 1, 4, 1.0)  # warm the connections up
                results[rows] = r = service_throughput(
                    url, body, rows, args.processes, args.concurrency, args.seconds
                )
                print(
                    f"service, {rows:3d}-row requests ({args.form}, {len(body)} B): {r['rows_per_s']:10.0f} rows/s, "
                    f"{r['requests'] / args.seconds:8.0f} req/s, p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, "
                    f"errors {r['errors']}"
                )
            best_raw = max(raw.values())
            print(f"ratio service(100-row) / raw(best large batch): {results[100]['rows_per_s'] / best_raw:.2f}")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
