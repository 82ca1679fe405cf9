"""Slow and departing clients against a real uvicorn: bounded heads and bodies, bounded connections,
disconnects recorded as 499 without an error log and without computing for the departed client."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import orjson
import pytest
from service_helpers import (
    TOKEN,
    FakeLoader,
    ServerThread,
    admin_headers,
    free_port,
    metric_value,
    serve,
    settings,
    wait_until_ready,
    write_fake_model,
)

from service.app import create_app
from service.connections import BODY_GRACE_S, guarded_protocol
from service.server import uvicorn_config

ROW = {"user_id": 3, "C1": "a", "genres": ["x"]}
SLACK = 1.5  # seconds a bound may be exceeded by on a busy machine
BODY = orjson.dumps({"instances": [ROW]})


@pytest.fixture
def repo(tmp_path):
    write_fake_model(tmp_path, "ads", 1)
    return tmp_path


def connect(server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def read_until_closed(conn: socket.socket, limit: float = 10.0) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and the seconds that took."""
    start = time.monotonic()
    conn.settimeout(limit)
    data = b""
    try:
        while chunk := conn.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data, time.monotonic() - start


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


def status_of(data: bytes) -> int | None:
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else None


class ErrorLog(logging.Handler):
    """Collects the records at ERROR or above of the service's and uvicorn's loggers."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def error_log() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    loggers = [logging.getLogger(), logging.getLogger("uvicorn"), logging.getLogger("uvicorn.error")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


@contextmanager
def serve_with(config_settings, http: str, loader) -> Iterator[ServerThread]:
    """Like ``serve``, with the guarded protocol of ``http`` (httptools or h11)."""
    config_settings = config_settings.model_copy(update={"port": free_port()})
    server = ServerThread(create_app(config_settings, loader=loader), config_settings)
    server.server.config = uvicorn_config(server.app, config_settings, host="127.0.0.1", log_level="warning",
                                          http=guarded_protocol(config_settings, http))
    server.start()
    try:
        wait_until_ready(server.url)
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("http", ["httptools", "h11"])
def test_slow_heads_are_cut_at_the_bound_while_others_are_served(repo, http):
    config = settings(repo, header_timeout_s=0.6)
    with serve_with(config, http, FakeLoader()) as server:
        silent = connect(server)
        partial = connect(server)
        partial.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\n")
        trickle = connect(server)
        stop = threading.Event()

        def drip():  # a byte of head every 0.1 s: bytes do not extend the bound
            for byte in b"GET /healthz HTTP/1.1\r\nX-Slow: " + b"a" * 100:
                if stop.is_set():
                    return
                try:
                    trickle.sendall(bytes([byte]))
                except OSError:
                    return
                time.sleep(0.1)

        dripper = threading.Thread(target=drip)
        dripper.start()
        with httpx.Client(base_url=server.url, headers={"content-type": "application/json"}) as client:
            for _ in range(5):  # normal requests go on meanwhile
                assert client.post("/predict", content=BODY).status_code == 200
        results = {}
        for name, conn in (("silent", silent), ("partial", partial), ("trickle", trickle)):
            results[name] = read_until_closed(conn)
        stop.set()
        dripper.join()
        data, waited = results["silent"]
        assert data == b"" and waited < 0.6 + SLACK  # closed, nothing sent for no request
        for name in ("partial", "trickle"):
            data, waited = results[name]
            assert status_of(data) == 408, (name, data)
            assert b"connection: close" in data.lower() and b"within 0.6 s" in data
            assert waited < 0.6 + SLACK
        assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_keep_alive_connections_get_the_same_head_bound_per_request(repo):
    with serve(settings(repo, header_timeout_s=0.5, keep_alive_timeout_s=5), loader=FakeLoader()) as server:
        conn = connect(server)
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = conn.recv(65536)
        assert status_of(first) == 200
        time.sleep(0.8)  # idle longer than the head bound: the keep-alive bound applies, not the head's
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status_of(conn.recv(65536)) == 200
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHo")
        data, waited = read_until_closed(conn)
        assert status_of(data) == 408 and waited < 0.5 + SLACK


def test_idle_keep_alive_connections_are_closed(repo):
    with serve(settings(repo, keep_alive_timeout_s=0.5), loader=FakeLoader()) as server:
        conn = connect(server)
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status_of(conn.recv(65536)) == 200
        data, waited = read_until_closed(conn)
        assert data == b"" and 0.3 < waited < 0.5 + SLACK


def test_heads_larger_than_the_limit_get_431(repo):
    with serve(settings(repo, max_header_bytes=4096), loader=FakeLoader()) as server:
        conn = connect(server)
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        try:
            for i in range(100):
                conn.sendall(b"X-Pad-%d: %s\r\n" % (i, b"a" * 200))
        except OSError:
            pass
        data, _ = read_until_closed(conn)
        assert status_of(data) == 431 and b"4096 bytes" in data
        big = httpx.get(f"{server.url}/healthz", headers={"x-pad": "a" * 3000})
        assert big.status_code == 200  # under the limit


def test_slow_prediction_body_gets_408_within_its_deadline(repo):
    with serve(settings(repo, request_timeout_ms=500), loader=FakeLoader()) as server:
        conn = connect(server)
        conn.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n" + BODY[:15])
        data, waited = read_until_closed(conn)
        assert status_of(data) == 408 and b"did not arrive within 500 ms" in data
        assert b"connection: close" in data.lower() and waited < 0.5 + SLACK
        metrics = httpx.get(f"{server.url}/metrics").text
        assert metric_value(metrics, "ctrkit_requests_total", endpoint="predict", status="408") == 1


def test_slow_bodies_on_other_routes_get_408_or_are_closed(repo):
    config = settings(repo, admin_token=TOKEN, body_timeout_s=0.5, header_timeout_s=5)
    with serve(config, loader=FakeLoader()) as server:
        conn = connect(server)  # a route that reads its body (FastAPI)
        conn.sendall(b"PUT /admin/models/ads/traffic HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode()
                     + b"\r\nContent-Length: 1000\r\n\r\n{\"split\"")
        data, waited = read_until_closed(conn)
        assert status_of(data) == 408 and waited < 0.5 + SLACK
        conn = connect(server)  # a route that answers without reading it: the connection is closed after
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc")
        data, waited = read_until_closed(conn)
        assert status_of(data) == 200 and waited < 0.5 + BODY_GRACE_S + SLACK
        assert httpx.get(f"{server.url}/models").status_code == 200


def test_connections_are_bounded(repo):
    with serve(settings(repo, max_connections=4, header_timeout_s=1.0), loader=FakeLoader()) as server:
        idle = [connect(server) for _ in range(4)]
        time.sleep(0.1)
        crowded = httpx.get(f"{server.url}/healthz")
        assert crowded.status_code == 503
        for conn in idle:
            read_until_closed(conn)  # the head bound frees them
        assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_client_leaving_mid_body_is_a_quiet_499(repo):
    config = settings(repo, admin_token=TOKEN)
    with error_log() as errors, serve(config, loader=FakeLoader()) as server:
        for path, extra in (("/predict", b"Content-Type: application/json\r\n"),
                            ("/v1/models/ads:predict", b""),
                            ("/admin/models/ads/traffic", b"Authorization: Bearer " + TOKEN.encode() + b"\r\n")):
            method = b"PUT" if "admin" in path else b"POST"
            conn = connect(server)
            conn.sendall(method + b" " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n" + extra
                         + b"Content-Length: 1000\r\n\r\n" + BODY[:15])
            time.sleep(0.2)
            conn.close()
        time.sleep(0.3)
        metrics = httpx.get(f"{server.url}/metrics").text
        assert metric_value(metrics, "ctrkit_requests_total", endpoint="predict", status="499") == 1
        assert metric_value(metrics, "ctrkit_requests_total", endpoint="tf_predict", status="499") == 1
        assert 'status="500"' not in metrics
        assert httpx.get(f"{server.url}/admin/models", headers=admin_headers()).status_code == 200
    assert not errors.records, [r.getMessage() for r in errors.records]


def test_rows_of_a_client_that_left_are_never_computed(repo):
    loader = FakeLoader(delay=1.0)
    config = settings(repo, request_timeout_ms=5000, max_batch_rows=4)  # 7 rows queue behind a full call
    with error_log() as errors, serve(config, loader=loader) as server:
        bundle = loader.bundles["ads/1"]
        warm_up = len(bundle.calls)
        busy = threading.Thread(target=lambda: httpx.post(
            f"{server.url}/predict", content=orjson.dumps({"instances": [ROW] * 2}),
            headers={"content-type": "application/json"}, timeout=10))
        busy.start()  # occupies the model for 1 s
        batcher = server.app.state.registry.models["ads"].versions[1].batcher
        wait_for(lambda: batcher.in_flight == 1)
        leaving = orjson.dumps({"instances": [ROW] * 7})
        conn = connect(server)
        conn.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
                     + str(len(leaving)).encode() + b"\r\n\r\n" + leaving)
        wait_for(lambda: batcher.queued_rows == 7)  # its rows wait in the queue
        conn.close()
        wait_for(lambda: batcher.queued_rows == 0)  # withdrawn
        busy.join()
        time.sleep(0.8)  # time enough for a second model call
        assert bundle.calls[warm_up:] == [2]  # the 7 rows (4 + 3) of the client that left were dropped
        metrics = httpx.get(f"{server.url}/metrics").text
        assert metric_value(metrics, "ctrkit_requests_total", endpoint="predict", status="499") == 1
        assert metric_value(metrics, "ctrkit_requests_total", endpoint="predict", status="200") == 1
        # the queue is empty again and serves the next request
        answer = httpx.post(f"{server.url}/predict", content=BODY, headers={"content-type": "application/json"})
        assert answer.status_code == 200
    assert not errors.records, [r.getMessage() for r in errors.records]
