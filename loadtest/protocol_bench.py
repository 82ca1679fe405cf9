"""The binary protocols beside JSON, in one run: rows/s against the raw model's best, and 1-row latency.

One run:

1. exports a Criteo-like DeepFM (26 hashed + 13 dense features, embedding 16,
   MLP 256-256) unless ``--model-dir`` names a bundle, and measures the raw
   model's best rows/s (its ``serving_packed`` signature called in-process at
   ``--batch-sizes``);
2. starts ``ctrkit serve`` with gRPC on free loopback ports;
3. sends, from compiled load generators (``wrk`` for REST, ``h2load`` for
   gRPC, see :mod:`loadtest.protocol_load`), the same rows as
   ``POST /predict`` JSON (column form), as Open Inference Protocol REST
   binary tensors and as TensorFlow Serving gRPC ``Predict`` calls: 100-row
   requests at 32 in flight, and 1-row requests one at a time;
4. prints each case's rows/s, latency and the CPU share of its load
   generator, the ratios below, and writes them to ``--out``/protocols.json:

   * 100 rows over OIP REST binary, 32 in flight: rows/s / raw best;
   * 100 rows over TensorFlow Serving gRPC, 32 in flight: rows/s / raw best;
   * 1 row over TensorFlow Serving gRPC, 1 in flight: p50 / the p50 of the
     same row over ``POST /predict`` JSON.

Answers are counted from the service's own metrics by endpoint and status
(a gRPC error travels in HTTP/2 trailers, which ``h2load`` does not read).

Usage: ``python -m loadtest.protocol_bench [--model-dir models/criteo_deepfm/1] [--seconds 10]``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from loadtest.binary_bodies import grpc_frame, oip_binary_request, tf_predict_request  # noqa: E402
from loadtest.protocol_load import grpc_load, http_load  # noqa: E402
from loadtest.requestgen import RequestGenerator, dumps  # noqa: E402

__all__ = ["main", "raw_best", "run"]

PREDICT = "/tensorflow.serving.PredictionService/Predict"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raw_best(version_dir: Path, batch_sizes: list[int], seconds: float) -> dict[str, float]:
    """Rows/s of the bundle's packed signature called in-process, per batch size (the service's model call)."""
    import tensorflow as tf

    from ctrkit.export import load_bundle

    bundle = load_bundle(version_dir)
    generator = RequestGenerator(bundle.spec, seed=1)
    signature = bundle.packed_signature or bundle.signature
    rates = {}
    for batch in batch_sizes:
        columns = generator.columns(batch)
        for entry in bundle.spec["features"]:
            if entry["kind"] == "length":
                columns[entry["name"]] = [len(v) for v in columns[entry["length_of"]]]
        tensors = bundle.to_tensors(columns)
        if bundle.packed_signature is not None and bundle.layout is not None:
            packed = bundle.layout.pack({k: v.numpy() for k, v in tensors.items()})
            inputs = {g: tf.constant(m) for g, m in packed.items()}
        else:
            inputs = tensors
        for _ in range(3):
            signature(**inputs)
        calls, start = 0, time.perf_counter()
        while calls < 5 or time.perf_counter() - start < seconds:
            for value in signature(**inputs).values():
                value.numpy()
            calls += 1
        rates[str(batch)] = calls * batch / (time.perf_counter() - start)
    return rates


def _answers(url: str) -> dict[tuple[str, str], float]:
    """``(endpoint, status) -> count`` from the service's metrics."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    counts: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=10).text):
        if family.name == "ctrkit_requests":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    key = (sample.labels["endpoint"], sample.labels["status"])
                    counts[key] = counts.get(key, 0.0) + sample.value
    return counts


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every measurement of ``args``; returns the report."""
    import httpx

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ctrkit-protocols-") as tmp:
        if args.model_dir is None:
            from loadtest.bundles import export_criteo_deepfm

            version_dir = export_criteo_deepfm(Path(tmp) / "models")
        else:
            version_dir = Path(args.model_dir).resolve()
        spec = json.loads((version_dir / "feature_spec.json").read_text())
        model = spec["model"]["name"]
        print(f"raw model limit ({version_dir}) ...", flush=True)
        raw = raw_best(version_dir, args.batch_sizes, args.raw_seconds)
        best = max(raw.values())
        print("  " + ", ".join(f"batch {b}: {r:,.0f} rows/s" for b, r in raw.items()), flush=True)

        repo = Path(tmp) / "serve"
        (repo / model).mkdir(parents=True)
        (repo / model / version_dir.name).symlink_to(version_dir, target_is_directory=True)
        port, grpc_port = _free_port(), _free_port()
        url = f"http://127.0.0.1:{port}"
        log = (out / "protocols-service.log").open("wb")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
               "TF_CPP_MIN_LOG_LEVEL": "2"}
        server = subprocess.Popen(
            [sys.executable, "-m", "ctrkit.cli", "serve", "--model-repository", str(repo), "--port", str(port),
             "--grpc-port", str(grpc_port), "--poll-interval-s", "0", "--log-level", "warning", *args.serve_arg],
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        cases: list[dict[str, Any]] = []
        try:
            deadline = time.monotonic() + 180
            while True:
                try:
                    if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"ctrkit serve did not become ready; see {out / 'protocols-service.log'}")
                time.sleep(0.25)
            work = Path(tmp) / "load"
            for rows, concurrency, kinds in ((100, 32, ("json", "oip", "tf")), (1, 1, ("json", "tf"))):
                columns = RequestGenerator(spec, seed=7).columns(rows)
                for kind in kinds:
                    before, cpu = _answers(url), _cpu_seconds(server.pid)
                    if kind == "json":
                        endpoint = "predict"
                        result = http_load(f"{url}/predict", dumps({"inputs": columns}),
                                           {"Content-Type": "application/json"}, concurrency, args.seconds, work)
                    elif kind == "oip":
                        endpoint = "oip_infer"
                        body, headers = oip_binary_request(spec, columns)
                        result = http_load(f"{url}/v2/models/{model}/infer", body, headers, concurrency,
                                           args.seconds, work)
                    else:
                        endpoint = "tf_grpc_predict"
                        frame = grpc_frame(tf_predict_request(spec, columns, model))
                        result = grpc_load(f"127.0.0.1:{grpc_port}", PREDICT, frame, concurrency, args.seconds, work)
                    server_cores = (_cpu_seconds(server.pid) - cpu) / (args.seconds + 1)
                    after = _answers(url)
                    answered = {s: after.get((endpoint, s), 0) - before.get((endpoint, s), 0)
                                for e, s in after if e == endpoint}
                    case = {"protocol": kind, "rows": rows, "concurrency": concurrency,
                            "rows_per_s": result["requests_per_s"] * rows, **result,
                            "server_cores": server_cores, "answers": {s: n for s, n in answered.items() if n}}
                    cases.append(case)
                    print(f"  {kind:4s} {rows:3d} rows x {concurrency:2d}: {case['rows_per_s']:9,.0f} rows/s  "
                          f"p50 {case['p50_ms']:7.2f} ms  p99 {case['p99_ms']:7.2f} ms  load generator "
                          f"{case['generator_cores']:.2f} cores, server {server_cores:.2f} cores, "
                          f"answers {case['answers']}", flush=True)
        finally:
            if server.poll() is None:
                server.send_signal(signal.SIGTERM)
                try:
                    server.wait(60)
                except subprocess.TimeoutExpired:
                    server.kill()
            log.close()

    def pick(kind: str, rows: int) -> dict[str, Any]:
        return next(c for c in cases if c["protocol"] == kind and c["rows"] == rows)

    ratios = {
        "oip_binary_100rows_32_over_raw": pick("oip", 100)["rows_per_s"] / best,
        "tf_grpc_100rows_32_over_raw": pick("tf", 100)["rows_per_s"] / best,
        "json_100rows_32_over_raw": pick("json", 100)["rows_per_s"] / best,
        "tf_grpc_1row_p50_over_json": pick("tf", 1)["p50_ms"] / pick("json", 1)["p50_ms"],
    }
    report = {"model": model, "raw_rows_per_s": raw, "raw_best": best, "cases": cases, "ratios": ratios,
              "cpus": os.cpu_count(), "load_average_at_end": list(os.getloadavg())}
    (out / "protocols.json").write_text(json.dumps(report, indent=2))
    for name, value in ratios.items():
        print(f"{name}: {value:.2f}")
    return report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", default=None, help="a bundle's version directory (default: export one)")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of load per case (default: %(default)s)")
    parser.add_argument("--raw-seconds", type=float, default=2.0,
                        help="seconds per batch size of the raw model (default: %(default)s)")
    parser.add_argument("--batch-sizes", type=lambda t: [int(v) for v in t.split(",")], default=[1024, 4096],
                        metavar="N,N", help="rows per call of the raw model, comma-separated (default: 1024,4096)")
    parser.add_argument("--serve-arg", action="append", default=[], help="an extra `ctrkit serve` argument, repeatable (default: none)")
    parser.add_argument("--out", default="bench-results", help="directory of the JSON report and the service log (default: %(default)s)")
    return parser


def main(argv: list[str] | None = None) -> int:
    run(build_parser().parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
