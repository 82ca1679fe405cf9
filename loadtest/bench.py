"""``ctrkit bench``: the service measured under load, beside a naive FastAPI peer and the raw model, in one run.

1. The raw model, in-process, before any server runs: the bundle's
   ``serving_default`` (named inputs) and ``serving_packed`` signatures on
   prebuilt tensors at each ``--batch-sizes``; the best rows/s is "raw best".
2. The same bundle served by ``ctrkit serve`` (its defaults plus any
   ``--serve-arg``) on ``--port`` and by the naive peer
   (``loadtest/naive_server.py``) on ``--port + 1``, each in its own process.
3. Load from ``wrk`` (one thread; bodies built from the feature spec, several
   per case, rotated) for ``--seconds`` per case and server, in ``--rounds``
   rounds that alternate which server goes first: 1 row over 1 and over 32
   connections, 100 rows in row form (both servers), then on ctrkit only
   100 rows in column form, a ranking body (100 candidates, half the features
   in a shared context) and the same rows in row form. Each run records req/s
   and rows/s of 2xx answers, latency percentiles, answers by status, and the
   CPU cores wrk and each server used meanwhile.
4. Binary protocols, ctrkit only (unless ``--no-protocols``), the same way
   (see :mod:`loadtest.protocols`): 100 rows over the Open Inference
   Protocol's REST binary tensors (wrk) and over TensorFlow Serving gRPC
   (``h2load``), 32 concurrent; 1 row over gRPC and over ``POST /predict``
   JSON, one at a time. The service's gRPC server listens on a free port.
5. Overload, ctrkit only: ``--overload-connections`` connections sending
   ``--overload-rows``-row bodies for ``--overload-seconds`` while a probe
   client sends, one at a time, 1-row requests spread over the run and large
   requests at ``--probe-rate`` per second.
6. The tables and the targets' ratios are printed; ``report.json`` and
   ``latency_throughput.png`` go into ``--out``.

Usage: ``ctrkit bench [--model-dir models/criteo_deepfm/1] [--out bench-results]`` (or ``make bench``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: python loadtest/bench.py
    sys.path.insert(0, str(ROOT))

from loadtest import procstat  # noqa: E402
from loadtest.bundles import export_criteo_deepfm, newest_version  # noqa: E402
from loadtest.cases import BodyFactory, Case, overload_case, standard_cases  # noqa: E402
from loadtest.h2load import H2loadMissing, find_h2load, h2load_version  # noqa: E402
from loadtest.probes import Prober  # noqa: E402
from loadtest.protocols import ProtocolCase, case_bodies, case_url, measure_protocol, protocol_cases  # noqa: E402
from loadtest.rawmodel import best_raw, raw_limits  # noqa: E402
from loadtest.report import (  # noqa: E402
    evaluate_targets,
    format_cases,
    format_load_generator,
    format_overload,
    format_raw_cpu,
    format_targets,
    plot,
)
from loadtest.requestgen import dumps  # noqa: E402
from loadtest.servers import (  # noqa: E402
    free_port,
    port_in_use,
    start_naive_peer,
    start_service,
    stop_service,
    wait_ready,
)
from loadtest.wrk import Body, WrkMissing, find_wrk, run_wrk, write_manifest, wrk_version  # noqa: E402

__all__ = ["build_parser", "grpc_port_for", "main", "run_benchmark"]

DEMO_MODEL = Path("models/criteo_deepfm")
_STARTUP_TIMEOUT_S = 300


def _log(message: str) -> None:
    print(message, flush=True)


def _phase(started: float, message: str) -> None:
    _log(f"{message}  [{time.perf_counter() - started:.0f} s]")


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value

    return parse


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ctrkit bench",
        description="Measure ctrkit serve under wrk load beside a naive FastAPI peer and the raw model, and over "
        "its binary protocols (h2load for gRPC); print each case and the target ratios, write report.json and a "
        "latency-throughput plot.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--model-dir", type=Path, default=argparse.SUPPRESS,
                        help=f"a bundle's version directory (default: the newest version under {DEMO_MODEL}/, "
                        "else a Criteo-like DeepFM exported into a temporary repository)")
    parser.add_argument("--out", type=Path, default=Path("bench-results"),
                        help="directory for report.json, latency_throughput.png and the servers' logs")
    parser.add_argument("--host", default="127.0.0.1", help="address both servers listen on")
    parser.add_argument("--port", type=_at_least(1), default=8100,
                        help="port of ctrkit serve; the naive peer listens on the next one")
    parser.add_argument("--seconds", type=_at_least(1), default=10, help="measured seconds per case and server")
    parser.add_argument("--rounds", type=_at_least(1), default=2, help="rounds of every case")
    parser.add_argument("--warmup", type=_at_least(0), default=2,
                        help="unmeasured seconds of load before each case's first round (0: none)")
    parser.add_argument("--bodies", type=_at_least(1), default=8, help="distinct request bodies per case, rotated")
    parser.add_argument("--protocols", action=argparse.BooleanOptionalAction, default=True,
                        help="after the JSON cases, measure ctrkit over the Open Inference Protocol's REST binary "
                        "tensors (wrk) and TensorFlow Serving gRPC (h2load, Debian package nghttp2-client): "
                        "100 rows at 32 concurrent, 1 row at a time beside the same row as JSON")
    parser.add_argument("--overload-seconds", type=_at_least(1), default=20, help="length of the overload case")
    parser.add_argument("--overload-connections", type=_at_least(1), default=256,
                        help="connections of the overload case")
    parser.add_argument("--overload-rows", type=_at_least(1), default=1000,
                        help="rows per request in the overload case and its large probes")
    parser.add_argument("--probe-rate", type=_positive_float, default=15.0,
                        help="large probe requests per second during the overload case")
    parser.add_argument("--small-probes", type=_at_least(1), default=6,
                        help="1-row probe requests spread over the overload case")
    parser.add_argument("--raw-seconds", type=_positive_float, default=1.0,
                        help="timing per signature and batch size of the raw model")
    parser.add_argument("--batch-sizes", type=_int_list, default="1,100,1024,4096",
                        help="rows per call of the raw model")
    parser.add_argument("--timeout", type=_at_least(1), default=30,
                        help="seconds after which wrk counts a request as timed out")
    parser.add_argument("--serve-arg", action="append", default=[],
                        help="extra `ctrkit serve` option, repeatable (e.g. --serve-arg=--max-batch-rows=2048)")
    return parser


def _service_settings(serve_args: Sequence[str]):
    """The settings ``ctrkit serve`` will use: from the environment and ``serve_args``."""
    from service.cli import settings_from_args

    return settings_from_args(list(serve_args))


def grpc_port_for(args: argparse.Namespace) -> int:
    """The port the service's gRPC server listens on in the bench: a free one, unless a ``--serve-arg`` names one;
    0 (no gRPC server) with ``--no-protocols``.

    >>> grpc_port_for(build_parser().parse_args(["--no-protocols"]))
    0
    >>> grpc_port_for(build_parser().parse_args(["--serve-arg=--grpc-port=9123"]))
    9123
    """
    if not args.protocols:
        return 0
    for _ in range(50):
        port = free_port(args.host)
        if port not in (args.port, args.port + 1):
            break
    chosen = _service_settings(["--grpc-port", str(port), *args.serve_arg]).grpc_port
    if not chosen:
        raise SystemExit("ctrkit bench: --serve-arg=--grpc-port=0 turns gRPC off, which the protocol cases need; "
                         "leave them out with --no-protocols")
    return chosen


def _model_dir(args: argparse.Namespace, scratch: Path) -> Path:
    if "model_dir" in args:
        if not (args.model_dir / "feature_spec.json").is_file():
            raise SystemExit(f"ctrkit bench: {args.model_dir} is not a bundle's version directory "
                             "(no feature_spec.json)")
        return args.model_dir.resolve()
    newest = newest_version(DEMO_MODEL)
    if newest is not None:
        return newest.resolve()
    _log(f"no trained version under {DEMO_MODEL}/: exporting a Criteo-like DeepFM (26 hashed + 13 dense features, "
         "embedding 16, MLP 256-256) ...")
    return export_criteo_deepfm(scratch / "models")


class _Servers:
    """Both servers, started together, stopped on exit, their CPU watched."""

    def __init__(self, version_dir: Path, args: argparse.Namespace, scratch: Path, out: Path,
                 grpc_port: int) -> None:
        self.model = model = json.loads((version_dir / "feature_spec.json").read_text())["model"]["name"]
        repo = scratch / "serve"  # a repository holding this version only
        (repo / model).mkdir(parents=True)
        (repo / model / version_dir.name).symlink_to(version_dir, target_is_directory=True)
        self.urls = {"ctrkit": f"http://{args.host}:{args.port}", "naive": f"http://{args.host}:{args.port + 1}"}
        self.grpc_url = f"http://{args.host}:{grpc_port}"
        self.logs = {"ctrkit": out / "ctrkit-serve.log", "naive": out / "naive-server.log"}
        self.processes = {
            "ctrkit": start_service(repo, args.port, args.serve_arg, self.logs["ctrkit"], host=args.host,
                                    grpc_port=grpc_port),
            "naive": start_naive_peer(version_dir, args.port + 1, self.logs["naive"], host=args.host),
        }

    def wait_ready(self) -> None:
        for name, path in (("ctrkit", "/readyz"), ("naive", "/openapi.json")):
            wait_ready(self.urls[name], self.processes[name], _STARTUP_TIMEOUT_S, self.logs[name], path)

    def url(self, server: str, case: Case) -> str:
        return self.urls[server] + case.path.format(model=self.model)

    @property
    def pids(self) -> dict[str, int]:
        return {name: process.pid for name, process in self.processes.items()}

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                tail = self.logs[name].read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{name} exited with status {process.returncode} during the bench:\n{tail}")

    def stop(self) -> None:
        for process in self.processes.values():
            stop_service(process)


def _measure(servers: _Servers, case: Case, server: str, manifest: Path, seconds: int, timeout: int,
             round_number: int) -> dict[str, Any]:
    run = run_wrk(servers.url(server, case), manifest, connections=case.connections, seconds=seconds,
                  timeout_s=timeout, watch=servers.pids)
    servers.check_alive()
    run["round"] = round_number
    run["rows_per_s"] = run["req_per_s"] * case.rows
    return run


def _run_line(case: Case | ProtocolCase, server: str, run: Mapping[str, Any]) -> str:
    lat = run["latency_ms"]
    not_ok = {s: n for s, n in run["statuses"].items() if not 200 <= s < 300}
    cpu = ", ".join(f"{name} {cores:.2f}" for name, cores in run["cpu_cores"].items())
    return (f"  round {run['round']}  {case.title:<60.60s} {server:6s} {run['req_per_s']:8,.0f} req/s "
            f"{run['rows_per_s']:9,.0f} rows/s  p50 {lat['p50']:7.1f}  p99 {lat['p99']:7.1f} ms"
            f"{'  not 2xx ' + str(not_ok) if not_ok else ''}  CPU cores: {cpu}")


def _percentiles(values: Sequence[float]) -> dict[str, float]:
    import numpy as np

    return {"count": len(values), "p50_ms": float(np.percentile(values, 50)),
            "p99_ms": float(np.percentile(values, 99))}


_Plan = tuple[str, list[Body], Path]  # a protocol case's URL, bodies and wrk manifest


def _protocol_plans(servers: _Servers, spec: Mapping[str, Any], factory: BodyFactory,
                    work: Path) -> dict[str, _Plan]:
    plans = {}
    for case in protocol_cases():
        bodies = case_bodies(case, spec, factory, servers.model)
        plans[case.key] = (case_url(case, servers.urls["ctrkit"], servers.grpc_url, servers.model), bodies,
                           write_manifest(work / case.key, bodies))
    return plans


def _protocols(servers: _Servers, plans: Mapping[str, _Plan], args: argparse.Namespace) -> list[dict[str, Any]]:
    """The binary-protocol cases in every round (the order reversed in even rounds), each warmed up first."""
    cases = protocol_cases()
    http_url = servers.urls["ctrkit"]

    def measure(case: ProtocolCase, seconds: int, round_number: int) -> dict[str, Any]:
        url, bodies, manifest = plans[case.key]
        run = measure_protocol(case, url, bodies, manifest, http_url, seconds=seconds, timeout_s=args.timeout,
                               watch=servers.pids)
        servers.check_alive()
        run["round"] = round_number
        run["rows_per_s"] = run["req_per_s"] * case.rows
        return run

    runs: dict[str, list[dict[str, Any]]] = {case.key: [] for case in cases}
    for round_number in range(1, args.rounds + 1):
        for case in cases if round_number % 2 else reversed(cases):
            if round_number == 1 and args.warmup:
                measure(case, args.warmup, 0)
            run = measure(case, args.seconds, round_number)
            runs[case.key].append(run)
            _log(_run_line(case, "ctrkit", run))
    return [{"key": c.key, "title": c.title, "protocol": c.protocol, "generator": c.generator,
             "endpoint": c.endpoint, "url": plans[c.key][0], "rows": c.rows, "connections": c.connections,
             "streams": c.streams, "concurrency": c.concurrency, "bodies": len(plans[c.key][1]),
             "servers": ["ctrkit"], "runs": {"ctrkit": runs[c.key]}} for c in cases]


def _overload(servers: _Servers, case: Case, factory: BodyFactory, work: Path, args: argparse.Namespace,
              deadline_ms: float) -> dict[str, Any]:
    bodies = factory.bodies(case.form, case.rows)
    manifest = write_manifest(work / case.key, bodies)
    small_body = dumps(factory.payload("rows", 1, 0))
    prober = Prober(servers.url("ctrkit", case), small_body, bodies[0].content, seconds=args.overload_seconds,
                    small_count=args.small_probes, large_rate=args.probe_rate)
    prober.start()
    run = _measure(servers, case, "ctrkit", manifest, args.overload_seconds, args.timeout, 1)
    probes = prober.join()
    servers.check_alive()
    names = {"small": "1-row", "large": f"{case.rows:,}-row"}
    summary: dict[str, dict[str, Any]] = {}
    for kind, name in names.items():
        by_status: dict[str, list[float]] = {}
        for p in probes:
            if p["kind"] == kind:
                by_status.setdefault(str(p["status"]), []).append(p["latency_ms"])
        summary[name] = {status: _percentiles(values) for status, values in sorted(by_status.items())}
    refused = [p["latency_ms"] for p in probes if p["status"] == 503]
    small = [p for p in probes if p["kind"] == "small"]
    in_time = [p for p in small if p["status"] in (200, 503) and p["latency_ms"] <= deadline_ms]
    return {
        "key": case.key,
        "title": case.title,
        "connections": case.connections,
        "rows": case.rows,
        "seconds": args.overload_seconds,
        "wrk": run,
        "rows_per_s_200": run["statuses"].get(200, 0) * case.rows / run["seconds"],
        "probe_summary": summary,
        "probe_503_p99_ms": _percentiles(refused)["p99_ms"] if refused else None,
        "small_probes": {"sent": len(small), "answered_in_time": len(in_time), "deadline_ms": deadline_ms,
                         "probes": small},
        "probes": probes,
    }


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """Runs every measurement of ``args`` (see :func:`build_parser`) and returns the report."""
    started = time.perf_counter()
    wrk = find_wrk()
    h2load = find_h2load() if args.protocols else None
    for port in (args.port, args.port + 1):
        if port_in_use(args.host, port):
            raise SystemExit(f"ctrkit bench: port {port} on {args.host} is in use; choose others with --port "
                             "(ctrkit serve uses --port, the naive peer --port + 1)")
    deadline_ms = float(_service_settings(args.serve_arg).request_timeout_ms)
    grpc_port = grpc_port_for(args)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="ctrkit-bench-") as tmp, ExitStack() as stack:
        scratch = Path(tmp)
        version_dir = _model_dir(args, scratch)
        spec = json.loads((version_dir / "feature_spec.json").read_text())

        _phase(started, f"[1/5] raw model in-process: {version_dir} ({len(spec['features'])} inputs)")
        with procstat.CpuShares("children", {"bench": os.getpid()}) as raw_cpu:
            raw = raw_limits(version_dir, args.batch_sizes, args.raw_seconds, log=_log)
        best = best_raw(raw)
        _log("  " + format_raw_cpu({"raw_cpu_cores": raw_cpu.cores}).replace("\n", "\n  "))

        grpc_text = f", gRPC on {grpc_port}" if grpc_port else ""
        _phase(started, f"[2/5] starting ctrkit serve on port {args.port}{grpc_text} and the naive peer on "
               f"{args.port + 1} (logs in {out}) ...")
        servers = _Servers(version_dir, args, scratch, out, grpc_port)
        stack.callback(servers.stop)
        factory = BodyFactory(spec, args.bodies)
        cases = standard_cases()
        manifests = {case.key: write_manifest(scratch / "bodies" / case.key, factory.bodies(case.form, case.rows))
                     for case in cases}
        plans = _protocol_plans(servers, spec, factory, scratch / "protocol-bodies") if args.protocols else {}
        servers.wait_ready()

        _phase(started, f"[3/5] {len(cases)} JSON cases, {args.seconds} s each per server, {args.rounds} round(s), "
               "wrk with 1 thread")
        runs: dict[str, dict[str, list[dict[str, Any]]]] = {c.key: {s: [] for s in c.servers} for c in cases}
        for round_number in range(1, args.rounds + 1):
            for case in cases:
                order = case.servers if round_number % 2 else tuple(reversed(case.servers))
                for server in order:
                    if round_number == 1 and args.warmup:
                        _measure(servers, case, server, manifests[case.key], args.warmup, args.timeout, 0)
                    run = _measure(servers, case, server, manifests[case.key], args.seconds, args.timeout,
                                   round_number)
                    runs[case.key][server].append(run)
                    _log(_run_line(case, server, run))

        protocols = None
        if args.protocols:
            _phase(started, f"[4/5] binary protocols, ctrkit only: {len(protocol_cases())} cases, {args.seconds} s "
                   f"each, {args.rounds} round(s); wrk (REST) and h2load (gRPC) with 1 thread")
            protocols = {"h2load": {"version": h2load_version(h2load), "threads": 1}, "grpc_port": grpc_port,
                         "cases": _protocols(servers, plans, args)}
        else:
            _phase(started, "[4/5] binary protocols: left out (--no-protocols)")

        overload = overload_case(args.overload_connections, args.overload_rows)
        _phase(started, f"[5/5] {overload.title}, {args.overload_seconds} s, with probes ...")
        overload_report = _overload(servers, overload, factory, scratch / "bodies", args, deadline_ms)
        _phase(started, "stopping the servers ...")
        stack.close()

    report: dict[str, Any] = {
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": ["ctrkit", "bench", *args.argv],
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_average_before": load_before, "load_average_after": os.getloadavg(),
                    "cpu_shares_measured": procstat.available()},
        "wrk": {"version": wrk_version(wrk), "threads": 1},
        "model": {"dir": str(version_dir), "name": spec["model"]["name"], "class": spec["model"].get("class"),
                  "inputs": len(spec["features"])},
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "argv"},
        "service_deadline_ms": deadline_ms,
        "raw": raw,
        "raw_best": best,
        "raw_cpu_cores": raw_cpu.cores,
        "cases": [{"key": c.key, "title": c.title, "form": c.form, "rows": c.rows, "connections": c.connections,
                   "servers": list(c.servers), "runs": runs[c.key]} for c in cases],
        "protocols": protocols,
        "overload": overload_report,
    }
    report["targets"] = evaluate_targets(report)
    report["seconds"] = time.perf_counter() - started
    (out / "report.json").write_text(json.dumps(report, indent=2))
    plot(report, out / "latency_throughput.png")
    return report


def main(argv: list[str] | None = None) -> int:
    """Entry point (``ctrkit bench`` or ``python loadtest/bench.py``); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        report = run_benchmark(args)
    except (WrkMissing, H2loadMissing) as exc:
        print(f"ctrkit bench: {exc}", file=sys.stderr)
        return 2
    best = report["raw_best"]
    _log(f"\nraw best: {best['rows_per_s']:,.0f} rows/s ({best['signature']}, {best['rows_per_call']:,} rows/call)")
    _log(format_raw_cpu(report) + "\n")
    _log(format_cases(report) + "\n")
    _log(format_load_generator(report) + "\n")
    _log(format_overload(report) + "\n")
    _log(format_targets(report["targets"]) + "\n")
    _log(f"report: {args.out / 'report.json'}  plot: {args.out / 'latency_throughput.png'}  "
         f"({report['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
