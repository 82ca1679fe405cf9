"""What the service's guards against hostile clients cost on normal requests, as ratios.

    python benchmarks/service_guards.py [--rounds 7]

1. Repeated-key refusal (:mod:`service.duplicates`): the time of
   ``refuse_repeated_keys`` against the rest of ``Decoder.decode`` on the same
   body, for 1- and 100-row bodies of 26 string and 13 dense features (the
   Criteo layout): plain values (step 1, a count), values holding colons (step
   2) and a ranking request whose values hold colons (step 3, a second parse).
2. The request-read guard (:mod:`service.connections`): uvicorn servers in
   subprocesses answer a minimal ASGI app, one with uvicorn's httptools
   protocol and one with the guarded one (and a third, plain again); one client alternates rounds of
   keep-alive requests and of one-connection-per-request between them. Each
   server reports its own CPU time, so the figure is the server's work per
   request (wall times on a shared machine vary more than the guard costs);
   the ratio guarded/plain of the medians is printed, beside the ratio of a
   second plain server to the first, which shows the run's spread.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ctrkit.export import PackedLayout  # noqa: E402
from service.decoding import Decoder  # noqa: E402
from service.duplicates import refuse_repeated_keys  # noqa: E402
from service.features import parse_features  # noqa: E402
from service.schemas import build_schemas  # noqa: E402

SPEC_FEATURES = (
    [{"name": f"C{i}", "kind": "sparse", "dtype": "string", "vocabulary_size": 10000, "use_hash": True,
      "vocabulary": None, "default": ""} for i in range(1, 27)]
    + [{"name": f"I{i}", "kind": "dense", "dtype": "float32", "dimension": 1, "default": 0.0} for i in range(1, 14)]
)


def _decoder() -> Decoder:
    spec = {"format_version": 1, "features": SPEC_FEATURES,
            "model": {"name": "m", "version": 1, "outputs": ["ctr"], "tasks": [{"name": "ctr", "type": "binary"}]}}
    features = parse_features(spec)
    return Decoder(features, PackedLayout.from_entries(SPEC_FEATURES), build_schemas("m", 1, features, ["ctr"], 4096))


def _rows(n: int, colon: bool) -> list[dict]:
    sep = ":" if colon else ""
    return [{**{f"C{i}": f"{(r * 31 + i) % 977:08x}{sep}{i}" for i in range(1, 27)},
             **{f"I{i}": float((r + i) % 13) for i in range(1, 14)}} for r in range(n)]


def _best(fn, repeats: int, rounds: int) -> float:
    fn()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        times.append((time.perf_counter() - start) / repeats)
    return min(times)


def repeated_keys(rounds: int) -> None:
    decoder = _decoder()
    schema = decoder.schemas.request
    print("repeated-key refusal: check time / rest of Decoder.decode")
    for rows in (1, 100):
        repeats = 3000 if rows == 1 else 60
        cases = {
            "plain values (count)": {"instances": _rows(rows, False)},
            "values with colons (strings)": {"instances": _rows(rows, True)},
        }
        ranked = _rows(rows, True)
        context = {k: v for k, v in ranked[0].items() if k.startswith("C")}
        cases["ranking, colons (jiter)"] = {"context": context,
                                            "candidates": [{k: v for k, v in r.items() if k.startswith("I")}
                                                           for r in ranked]}
        for label, payload in cases.items():
            body = orjson.dumps(payload)
            decoded = decoder.decode(body)
            request = schema.model_validate_json(body)
            total = _best(lambda: decoder.decode(body), repeats, rounds)
            check = _best(lambda: refuse_repeated_keys(body, request, decoded.packed, decoded.form,
                                                       decoder._colon_free), repeats, rounds)
            print(f"  {rows:>3} rows, {label:<30} decode {total * 1e6:8.1f} us, check {check * 1e6:7.2f} us, "
                  f"ratio {check / (total - check):.3f}")


_SERVER = """
import sys, time, uvicorn
sys.path.insert(0, {root!r})
from service.connections import guarded_protocol
from service.settings import Settings
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b"%.9f" % time.process_time() if scope["path"] == "/cpu" else b"ok"
    await send({{"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]}})
    await send({{"type": "http.response.body", "body": body}})
http = guarded_protocol(Settings(), "httptools") if {guarded} else "httptools"
uvicorn.run(app, host="127.0.0.1", port={port}, loop="uvloop", http=http, log_level="error", lifespan="off")
"""

_REQUEST = b"POST /x HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"a\": [1, 2]}"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu(port: int) -> float:
    """The server process's CPU seconds so far (it answers them on /cpu)."""
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(b"GET /cpu HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := conn.recv(4096):
            data += chunk
    return float(data.rpartition(b"\r\n\r\n")[2])


def _keep_alive_round(port: int, requests: int) -> float:
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as conn:
        for _ in range(requests):
            conn.sendall(_REQUEST)
            data = b""
            while not data.endswith(b"ok"):
                data += conn.recv(4096)
    return time.perf_counter() - start


def _connection_round(port: int, requests: int) -> float:
    start = time.perf_counter()
    for _ in range(requests):
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(_REQUEST)
            data = b""
            while not data.endswith(b"ok"):
                data += conn.recv(4096)
    return time.perf_counter() - start


def connection_guard(rounds: int) -> None:
    ports = {"plain": _port(), "plain again": _port(), "guarded": _port()}  # plain again: the spread
    procs = [subprocess.Popen([sys.executable, "-c", _SERVER.format(root=str(ROOT), guarded=name == "guarded",
                                                                     port=port)])
             for name, port in ports.items()]
    try:
        for port in ports.values():
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port)).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        print("request-read guard: server CPU time per request (median of rounds), guarded / plain httptools")
        for label, run, requests in (("keep-alive requests", _keep_alive_round, 5000),
                                     ("a connection per request", _connection_round, 1000)):
            cpu: dict[str, list[float]] = {name: [] for name in ports}
            for k in range(rounds):  # the order turns from round to round
                names = list(ports)[k % 3:] + list(ports)[:k % 3]
                for name in names:
                    before = _cpu(ports[name])
                    run(ports[name], requests)
                    cpu[name].append((_cpu(ports[name]) - before) / requests)
            plain, again, guarded = (statistics.median(cpu[k]) for k in ports)
            print(f"  {label:<26} plain {plain * 1e6:6.1f} us, guarded {guarded * 1e6:6.1f} us, "
                  f"ratio {guarded / plain:.3f} (plain again / plain: {again / plain:.3f})")
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, metavar="N",
                        help="rounds of each measurement; medians are compared (default: %(default)s)")
    args = parser.parse_args()
    repeated_keys(args.rounds)
    connection_guard(args.rounds)


if __name__ == "__main__":
    main()
