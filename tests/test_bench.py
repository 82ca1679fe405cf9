"""``ctrkit bench`` end to end on a tiny model with two-second cases, and the naive peer it compares against."""

from __future__ import annotations

import asyncio
import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from serve_process import ROOT  # noqa: F401  (puts the repository on sys.path)

from loadtest import bench
from loadtest.bundles import export_criteo_deepfm
from loadtest.cases import BodyFactory, standard_cases
from loadtest.protocols import case_bodies, protocol_cases
from loadtest.report import BUSY_ELSEWHERE, evaluate_targets, format_raw_cpu
from loadtest.servers import port_in_use

needs_wrk = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (Debian package wrk)")
needs_h2load = pytest.mark.skipif(shutil.which("h2load") is None,
                                  reason="h2load is not installed (Debian package nghttp2-client)")


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory):
    """A Criteo-shaped DeepFM small enough to load in a second: C1-C4 hashed strings, I1-I3 floats."""
    repo = tmp_path_factory.mktemp("models")
    return export_criteo_deepfm(repo, sparse=4, dense=3, embedding_dim=4, hidden_units=(8,), hash_buckets=100)


def _two_free_ports() -> int:
    # Below the kernel's ephemeral range: there, the next port may become another test's client socket
    # between this check and the bench's second server binding it.
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0]) if Path(
        "/proc/sys/net/ipv4/ip_local_port_range").exists() else 32768
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(10000, max(10002, low - 2))
        if not port_in_use("127.0.0.1", port) and not port_in_use("127.0.0.1", port + 1):
            return port
    raise RuntimeError("no two consecutive free ports")


def _close(a: float, b: float) -> bool:
    return a == pytest.approx(b, rel=1e-6, abs=1e-9)


@needs_wrk
@needs_h2load
def test_bench_report_is_complete_and_consistent(tiny_bundle, tmp_path, capsys):
    out = tmp_path / "out"
    status = bench.main([
        "--model-dir", str(tiny_bundle), "--out", str(out), "--port", str(_two_free_ports()),
        "--seconds", "2", "--rounds", "1", "--warmup", "1", "--bodies", "2",
        "--overload-seconds", "3", "--probe-rate", "10", "--raw-seconds", "0.05", "--batch-sizes", "1,100",
        "--serve-arg=--request-timeout-ms=5000",  # the probes' deadline; no 504 on a busy machine
    ])
    assert status == 0
    printed = capsys.readouterr().out
    assert "| figure | measured | target | status |" in printed
    report = json.loads((out / "report.json").read_text())
    assert (out / "latency_throughput.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # the raw model: both signatures at each batch size, rows/s matching ms per call, the best of them
    raw = report["raw"]
    assert set(raw) == {"serving_default", "serving_packed"}
    for by_batch in raw.values():
        assert set(by_batch) == {"1", "100"}
        for batch, figures in by_batch.items():
            assert figures["rows_per_s"] > 0
            assert _close(figures["rows_per_s"], int(batch) * 1000 / figures["ms_per_call"])
    assert report["raw_best"]["rows_per_s"] == max(f["rows_per_s"] for b in raw.values() for f in b.values())
    # what the machine did meanwhile, read from /proc: the bench itself and the machine as a whole
    raw_cpu = report["raw_cpu_cores"]
    assert raw_cpu["bench"] > 0  # loading and calling the model
    assert raw_cpu["machine"] >= raw_cpu["bench"] - 0.05  # the machine counts the bench too (to a clock tick)
    assert "rows/call)\nraw model phase: the bench used" in printed  # in the summary, under the raw best

    # every case, on the servers it names, each run's figures positive and consistent
    cases = {c["key"]: c for c in report["cases"]}
    assert list(cases) == [c.key for c in standard_cases()]
    assert {k for k, c in cases.items() if "naive" in c["servers"]} == {"1row_1conn", "1row_32conn", "100rows_32conn"}
    for key, case in cases.items():
        assert set(case["runs"]) == set(case["servers"])
        for server, runs in case["runs"].items():
            assert len(runs) == 1
            run = runs[0]
            assert run["connections"] == case["connections"]
            assert run["requests"] > 0 and run["seconds"] > 1.9, (key, server, run)
            assert sum(run["statuses"].values()) == run["requests"] == run["ok"] + run["non_2xx"]
            assert set(run["statuses"]) == {"200"}, (key, server, run["statuses"])
            assert _close(run["req_per_s"], run["ok"] / run["seconds"])
            assert _close(run["rows_per_s"], run["req_per_s"] * case["rows"])
            lat = run["latency_ms"]
            assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
            cpu = run["cpu_cores"]
            assert set(cpu) == {"wrk", "ctrkit", "naive", "machine"}
            assert 0 < cpu["wrk"] <= 1.05  # one thread
            assert cpu[server] > 0
            # the machine's /proc/stat and the processes' own counters are sampled differently (a few % apart in a VM)
            assert cpu["machine"] * 1.1 + 0.05 >= cpu["wrk"] + cpu["ctrkit"] + cpu["naive"]

    # the binary protocols, ctrkit only: every answer counted by the service under the case's endpoint
    assert report["protocols"]["h2load"]["version"].startswith("h2load")
    protocols = {c["key"]: c for c in report["protocols"]["cases"]}
    assert list(protocols) == [c.key for c in protocol_cases()]
    for key, case in protocols.items():
        assert list(case["runs"]) == ["ctrkit"] and case["concurrency"] == case["connections"] * case["streams"]
        assert case["concurrency"] == (32 if case["rows"] == 100 else 1)
        [run] = case["runs"]["ctrkit"]
        service = run["service_statuses"]
        assert set(run["statuses"]) == {"200"} and set(service) <= {"200", "499"}, (key, run)
        assert run["requests"] == run["ok"] > 0 and run["seconds"] > 1.9, (key, run)
        if case["generator"] == "h2load":  # gRPC: answers are the service's; h2load read about as many
            assert case["protocol"] == "tf_grpc"
            assert run["ok"] == service["200"] and service.get("499", 0) == run["stopped_in_flight"]
            assert run["http_statuses"] == {"200": run["received"]}
            assert abs(run["received"] - run["ok"]) <= case["concurrency"]
        else:  # REST: wrk's answers, each one answered by the service (and the few in flight when wrk stopped)
            assert run["ok"] <= service["200"] <= run["ok"] + case["concurrency"], (key, run)
        assert _close(run["req_per_s"], run["ok"] / run["seconds"])
        assert _close(run["rows_per_s"], run["req_per_s"] * case["rows"])
        lat = run["latency_ms"]
        assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
        cpu = run["cpu_cores"]
        assert set(cpu) == {case["generator"], "ctrkit", "naive", "machine"}
        assert 0 < cpu[case["generator"]] <= 1.05 and cpu["ctrkit"] > 0
    assert "h2load (one thread) used at most" in printed
    assert printed.count("| 100 rows, TensorFlow Serving gRPC, 32 concurrent") == 1  # in the cases table

    # the targets: every figure of the issues' tables, computed from the figures above
    targets = {t["figure"]: t for t in report["targets"]}
    assert len(targets) == 15
    one = cases["1row_1conn"]["runs"]
    p50_ratio = targets["1 row, 1 connection: p50, ctrkit / naive peer"]["values"][0]
    assert _close(p50_ratio, one["ctrkit"][0]["latency_ms"]["p50"] / one["naive"][0]["latency_ms"]["p50"])
    rows = cases["100rows_32conn"]["runs"]["ctrkit"][0]
    raw_ratio = targets["100 rows (row form), 32 connections: rows/s / raw best"]["values"][0]
    assert _close(raw_ratio, rows["rows_per_s"] / report["raw_best"]["rows_per_s"])
    assert len(targets["100 rows (row and column forms), 32 connections: p99 / p50"]["values"]) == 2
    twin = cases["ranking_rows_32conn"]["runs"]["ctrkit"][0]["rows_per_s"]
    for figure, key in (("ranking, 100 candidates, half the features in the context: rows/s / same rows in row form",
                         "ranking_32conn"),
                        ("the same ranking with the candidates as columns: rows/s / same rows in row form",
                         "ranking_columns_32conn")):
        [value] = targets[figure]["values"]
        assert _close(value, cases[key]["runs"]["ctrkit"][0]["rows_per_s"] / twin)
    for figure, key in (("100 rows over OIP REST with binary tensors, 32 concurrent: rows/s / raw best",
                         "oip_binary_100rows_32"),
                        ("100 rows over TensorFlow Serving gRPC, 32 concurrent: rows/s / raw best",
                         "tf_grpc_100rows_32")):
        [value] = targets[figure]["values"]
        assert _close(value, protocols[key]["runs"]["ctrkit"][0]["rows_per_s"] / report["raw_best"]["rows_per_s"])
    [grpc], [json_twin] = protocols["tf_grpc_1row_1"]["runs"]["ctrkit"], protocols["json_1row_1"]["runs"]["ctrkit"]
    [value] = targets["1 row over TensorFlow Serving gRPC, 1 concurrent: p50 / the same over REST JSON"]["values"]
    assert _close(value, grpc["latency_ms"]["p50"] / json_twin["latency_ms"]["p50"])
    for target in targets.values():  # met when every run meets it
        met = [v is not None and (v <= target["limit"] if target["op"] == "<=" else v >= target["limit"])
               for v in target["values"]]
        assert target["status"] == ("met" if all(met) else "not met" if not any(met) else
                                    f"partly ({sum(met)} of {len(met)} runs)")
    # a run without the protocol cases (--no-protocols) says their figures were not measured
    without = {t["figure"]: t for t in evaluate_targets({**report, "protocols": None})}
    assert [f for f, t in without.items() if t["status"] == "not measured"] == list(targets)[9:12]

    # overload: statuses from wrk, rows/s answered 200 from them, the probes against the service's deadline
    overload = report["overload"]
    run = overload["wrk"]
    assert overload["connections"] == 256 and overload["rows"] == 1000
    assert sum(run["statuses"].values()) == run["requests"] > 0
    assert _close(overload["rows_per_s_200"], run["statuses"].get("200", 0) * 1000 / run["seconds"])
    small = overload["small_probes"]
    assert small["sent"] == 6 and small["deadline_ms"] == 5000
    in_time = [p for p in small["probes"] if p["status"] in (200, 503) and p["latency_ms"] <= 5000]
    assert small["answered_in_time"] == len(in_time)
    large = [p for p in overload["probes"] if p["kind"] == "large"]
    assert large and all(p["latency_ms"] > 0 for p in overload["probes"])
    refused = [p["latency_ms"] for p in overload["probes"] if p["status"] == 503]
    expected = float(np.percentile(refused, 99)) if refused else None
    assert overload["probe_503_p99_ms"] == (pytest.approx(expected) if refused else None)


def test_a_busy_machine_during_the_raw_phase_is_reported():
    quiet = format_raw_cpu({"raw_cpu_cores": {"bench": 1.0, "machine": 1.05}})
    assert quiet == "raw model phase: the bench used 1.00 cores, everything else 0.05"
    busy = format_raw_cpu({"raw_cpu_cores": {"bench": 1.0, "machine": 1.0 + BUSY_ELSEWHERE + 0.5}})
    assert "warning: other processes used 0.70 cores while the raw model was measured" in busy
    assert "run the bench again on a quiet machine" in busy
    assert "could not be read" in format_raw_cpu({"raw_cpu_cores": {"children": 0.0}})


def test_bench_without_wrk_names_the_package(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert bench.main(["--out", str(tmp_path / "out")]) == 2
    message = capsys.readouterr().err
    assert "wrk" in message and "apt-get install wrk" in message
    assert not (tmp_path / "out").exists()


@needs_wrk
def test_bench_without_h2load_names_the_package(tmp_path, monkeypatch, capsys):
    (tmp_path / "wrk").symlink_to(shutil.which("wrk"))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert bench.main(["--out", str(tmp_path / "out")]) == 2
    message = capsys.readouterr().err
    assert "h2load" in message and "apt-get install nghttp2-client" in message and "--no-protocols" in message
    assert not (tmp_path / "out").exists()


def test_bench_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        bench.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for option in ("--port", "--host", "--seconds", "--rounds", "--overload-seconds", "--model-dir",
                   "--protocols, --no-protocols"):
        assert option in text
    assert "(default: 8100)" in text and "(default: 127.0.0.1)" in text and "(default: 20)" in text
    assert "nghttp2-client" in text and "(default: True)" in text  # the protocol cases, on unless --no-protocols


def test_naive_peer_scores_like_the_bundle(tiny_bundle):
    import httpx

    from ctrkit.export import load_bundle
    from loadtest.naive_server import create_app
    from loadtest.requestgen import RequestGenerator

    bundle = load_bundle(tiny_bundle)
    rows = RequestGenerator(bundle.spec, seed=4).rows(5)

    async def post():
        transport = httpx.ASGITransport(app=create_app(tiny_bundle))
        async with httpx.AsyncClient(transport=transport, base_url="http://peer") as client:
            return await client.post("/predict", json={"instances": rows})

    answer = asyncio.run(post())
    assert answer.status_code == 200
    expected = bundle.predict({name: [row[name] for row in rows] for name in rows[0]})
    np.testing.assert_allclose(answer.json()["predictions"]["ctr"], expected["ctr"].ravel(), rtol=1e-5)


def test_case_bodies(tiny_bundle):
    spec = json.loads((tiny_bundle / "feature_spec.json").read_text())
    factory = BodyFactory(spec, count=3)
    for case in standard_cases():
        bodies = [json.loads(b.content) for b in factory.bodies(case.form, case.rows)]
        assert len({json.dumps(b, sort_keys=True) for b in bodies}) == 3  # distinct, rotated by wrk
        if case.form == "columns":
            assert all(len(values) == case.rows for b in bodies for values in b["inputs"].values())
        elif case.form == "ranking":
            assert all(set(b["context"]) == {"C1", "C2", "I1", "I2"} and len(b["candidates"]) == case.rows
                       for b in bodies)
        elif case.form == "ranking_columns":
            assert all(set(b["context"]) == {"C1", "C2", "I1", "I2"} and isinstance(b["candidates"], dict)
                       and all(len(values) == case.rows for values in b["candidates"].values()) for b in bodies)
        else:
            assert all(len(b["instances"]) == case.rows for b in bodies)
    # the row-form twin of the ranking case scores exactly the ranking bodies' rows
    ranking = [json.loads(b.content) for b in factory.bodies("ranking", 100)]
    twins = [json.loads(b.content) for b in factory.bodies("ranking_rows", 100)]
    columns = [json.loads(b.content) for b in factory.bodies("ranking_columns", 100)]
    for body, twin, columnar in zip(ranking, twins, columns):
        assert twin["instances"] == [{**body["context"], **c} for c in body["candidates"]]
        assert columnar["context"] == body["context"]
        assert columnar["candidates"] == {k: [c[k] for c in body["candidates"]] for k in body["candidates"][0]}
    assert BodyFactory(spec, count=3).bodies("rows", 5) == factory.bodies("rows", 5)  # reproducible


def test_protocol_case_bodies(tiny_bundle):
    predict_pb2 = pytest.importorskip("tensorflow_serving.apis.predict_pb2")

    spec = json.loads((tiny_bundle / "feature_spec.json").read_text())
    factory = BodyFactory(spec, count=3)
    bodies = {case.key: case_bodies(case, spec, factory, "criteo_deepfm") for case in protocol_cases()}
    # OIP bodies rotate, each a JSON header of its length then the tensors, 100 rows each
    oip = bodies["oip_binary_100rows_32"]
    assert len({b.content for b in oip}) == 3
    for body in oip:
        assert body.headers["Content-Type"] == "application/octet-stream"
        header = json.loads(body.content[:int(body.headers["Inference-Header-Content-Length"])])
        assert {i["name"] for i in header["inputs"]} == {"C1", "C2", "C3", "C4", "I1", "I2", "I3"}
        assert all(i["shape"] == [100] for i in header["inputs"])
    # gRPC: one framed PredictRequest each (h2load sends one body); the JSON twin sends the 1-row call's row
    for key, rows in (("tf_grpc_100rows_32", 100), ("tf_grpc_1row_1", 1)):
        [frame] = bodies[key]
        assert frame.headers == {"content-type": "application/grpc", "te": "trailers"}
        assert int.from_bytes(frame.content[1:5], "big") == len(frame.content) - 5
        request = predict_pb2.PredictRequest.FromString(frame.content[5:])
        assert request.model_spec.name == "criteo_deepfm"
        assert {name: [d.size for d in t.tensor_shape.dim] for name, t in request.inputs.items()} == {
            name: [rows] for name in ("C1", "C2", "C3", "C4", "I1", "I2", "I3")}
    request = predict_pb2.PredictRequest.FromString(bodies["tf_grpc_1row_1"][0].content[5:])
    [json_body] = bodies["json_1row_1"]
    [row] = json.loads(json_body.content)["instances"]
    assert {name: request.inputs[name].string_val[0].decode() for name in ("C1", "C2", "C3", "C4")} == {
        name: row[name] for name in ("C1", "C2", "C3", "C4")}
    floats = {name: np.frombuffer(request.inputs[name].tensor_content, "<f4")[0] for name in ("I1", "I2", "I3")}
    assert floats == pytest.approx({name: row[name] for name in ("I1", "I2", "I3")})


def test_bench_grpc_port():
    parse = bench.build_parser().parse_args
    assert bench.grpc_port_for(parse(["--no-protocols"])) == 0  # no gRPC server without the protocol cases
    args = parse(["--port", "8100"])
    port = bench.grpc_port_for(args)
    assert port not in (0, 8100, 8101) and not port_in_use("127.0.0.1", port)
    assert bench.grpc_port_for(parse(["--serve-arg=--grpc-port=9123"])) == 9123  # a serve option names it
    with pytest.raises(SystemExit, match="--no-protocols"):
        bench.grpc_port_for(parse(["--serve-arg=--grpc-port=0"]))
