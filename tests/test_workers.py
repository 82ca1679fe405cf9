"""``ctrkit serve --workers 2``: two processes on one port, one set of settings, one declared state, one /metrics.

Each worker reports (``GET /admin/models``) the settings it runs with and
TensorFlow's thread pools and the cores it is bound to; an admin call through
the port reaches both workers at once (the worker that takes it tells the other); ``/metrics`` through the port holds every worker's
series, labelled ``worker``; gRPC connections, on their own shared port, reach
both workers too; SIGTERM lets the requests in flight in every worker finish and
the command exit 0.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import time

import grpc
import httpx
import numpy as np
import pytest
from serve_process import export_versions, free_port, start_service, wait_ready

TOKEN = "workers-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROW = {"C1": "abc", "user_id": 7, "I1": 0.25, "emb": [0.1, 0.2, 0.3]}


def samples(text: str, name: str, having: str = "") -> dict[str, float]:
    """``worker -> value`` of the samples of ``name`` whose labels hold ``having`` (summed over their other labels)."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(name + "{") and having in line:
            worker = re.search(r'worker="(\d+)"', line).group(1)
            found[worker] = found.get(worker, 0.0) + float(line.rsplit(" ", 1)[1])
    return found


def by_worker(url: str, check, timeout: float = 60) -> dict[int, dict]:
    """``GET /admin/models`` through the port until every worker has answered with ``check(answer)`` true."""
    seen: dict[int, dict] = {}
    deadline = time.monotonic() + timeout
    while len(seen) < 2:
        with httpx.Client(timeout=10) as client:  # a new connection each time: the kernel picks the worker
            answer = client.get(f"{url}/admin/models", headers=AUTH).json()
        if check(answer):
            seen[answer["process"]["worker"]] = answer
        assert time.monotonic() < deadline, f"workers answering as wanted: {sorted(seen)}"
    return seen


def thread_niceness(pid: int, by: str = "id") -> dict:
    """The nice value of each thread of ``pid``, by thread id or by thread name (Linux's ``/proc``)."""
    found = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/stat") as f:
            stat = f.read()
        name, fields = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
        found[int(task) if by == "id" else name] = int(fields[16])  # the 19th field of stat: nice
    return found


def running(pid: int) -> bool:
    """Whether process ``pid`` exists and has not exited (a zombie has)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return "zombie" not in f.read()
    except FileNotFoundError:
        return False


def grpc_predict(target: str) -> float:
    """One TensorFlow Serving ``Predict`` of ``ROW`` over a new connection (the kernel picks the worker)."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "ads"
    for name, dtype in (("C1", tf.string), ("user_id", tf.int32), ("I1", tf.float32), ("emb", tf.float32)):
        request.inputs[name].CopyFrom(tf.make_tensor_proto(np.array([ROW[name]]), dtype=dtype))
    # a channel of its own, not one sharing the process's connections
    with grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
        answer = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
    assert answer.model_spec.version.value == 2
    return tf.make_ndarray(next(iter(answer.outputs.values()))).item()


class Pending:
    """A request sent in two parts on a connection whose worker is known: in flight between the parts."""

    def __init__(self, host: str, port: int) -> None:
        self.conn = socket.create_connection((host, port), timeout=30)
        self.file = self.conn.makefile("rb")
        self.conn.sendall(f"GET /admin/models HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
                          .encode())
        status, headers, body = self.read()
        assert status == 200
        self.worker = json.loads(body)["process"]["worker"]
        self.body = json.dumps({"instances": [ROW] * 3}).encode()
        self.conn.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          + f"Content-Length: {len(self.body)}\r\n\r\n".encode() + self.body[:10])

    def read(self) -> tuple[int, dict[str, str], bytes]:
        status = int(self.file.readline().split()[1])
        headers = {}
        while (line := self.file.readline().decode().strip()):
            key, _, value = line.partition(":")
            headers[key.lower()] = value.strip()
        return status, headers, self.file.read(int(headers["content-length"]))

    def finish(self) -> tuple[int, bytes]:
        self.conn.sendall(self.body[10:])
        status, _, body = self.read()
        self.conn.close()
        return status, body


@pytest.mark.slow
def test_two_workers_share_the_port_the_settings_the_state_and_the_metrics(tmp_path):
    repo = export_versions(tmp_path / "repo", "ads", 2)
    port, grpc_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    os.environ["CTR_TF_INTER_OP_THREADS"] = "2"  # an environment variable and options, all reach the workers
    try:
        process = start_service(repo, port, ["--grpc-port", str(grpc_port),
            "--workers", "2", "--admin-token", TOKEN, "--poll-interval-s", "300", "--model-versions", "ads=1",
            "--tf-intra-op-threads", "1", "--max-queue-rows", "5000", "--request-timeout-ms", "20000",
            "--log-level", "info",
        ], log)
    finally:
        del os.environ["CTR_TF_INTER_OP_THREADS"]
    try:
        wait_ready(url, process, 240, log)
        workers = by_worker(url, lambda a: a["models"] and a["models"][0]["serving"] == 1)
        pids = {w["process"]["pid"] for w in workers.values()}
        assert len(pids) == 2 and process.pid not in pids
        usable = sorted(os.sched_getaffinity(0))
        cores = [answer["process"]["cpus"] for answer in workers.values()]
        if len(usable) >= 2:  # each worker bound to its own share of the cores (CTR_CPU_AFFINITY=auto)
            assert sorted(sum(cores, [])) == usable and not set(cores[0]) & set(cores[1]), cores
        for pid in pids:  # TensorFlow's threads yield the core to the event loop (CTR_MODEL_NICENESS, 4)
            assert thread_niceness(pid)[pid] == 0
            assert {n for name, n in thread_niceness(pid, by="name").items() if name.startswith("tf_")} == {4}
        for answer in workers.values():
            assert answer["process"]["tf_threads"] == {"intra_op": 1, "inter_op": 2}
            settings = answer["process"]["settings"]
            assert settings["workers"] == 2 and settings["max_queue_rows"] == 5000
            assert settings["poll_interval_s"] == 300 and settings["admin_token"] != TOKEN

        # an admin call through the port: whichever worker takes it, both follow the declared state, the other
        # at once (told by the first), not at its next repository poll (300 s away)
        answer = httpx.post(f"{url}/admin/models/ads/versions/2:activate", headers=AUTH, timeout=60)
        assert answer.status_code == 200, answer.text
        generation = answer.json()["declared"]["generation"]
        by_worker(url, lambda a: a["models"][0]["serving"] == 2 and a["models"][0]["applied_generation"] == generation,
                  timeout=30)

        # requests spread over both workers; /metrics through the port counts every one of them, per worker
        sent = 0
        for _ in range(40):
            with httpx.Client(timeout=30) as client:
                r = client.post(f"{url}/predict", json={"instances": [ROW]})
                assert r.status_code == 200 and r.json()["version"] == 2
                sent += 1
        text = httpx.get(f"{url}/metrics", timeout=30).text
        assert samples(text, "ctrkit_worker_up") == {"0": 1.0, "1": 1.0}
        assert samples(text, "ctrkit_applied_state_generation") == {"0": generation, "1": generation}
        requests = {w: v for w, v in samples(text, "ctrkit_requests_total").items()}
        assert sum(requests.values()) == sent, requests

        # gRPC: every worker serves the shared gRPC port, each new connection reaching one of them
        scores = [grpc_predict(f"127.0.0.1:{grpc_port}") for _ in range(24)]
        assert len(set(scores)) == 1  # one model version answered every call, whichever worker took it
        rest = httpx.post(f"{url}/predict", json={"instances": [ROW]}, timeout=30).json()
        assert scores[0] == pytest.approx(rest["predictions"][0], rel=1e-6)
        text = httpx.get(f"{url}/metrics", timeout=30).text
        calls = samples(text, "ctrkit_requests_total", 'endpoint="tf_grpc_predict"')
        assert sum(calls.values()) == 24 and set(calls) == {"0", "1"}, calls
        memory = samples(text, "process_resident_memory_bytes")
        print(f"\nrequests per worker: {requests}; resident memory per worker (MB): "
              f"{ {w: round(v / 2**20) for w, v in memory.items()} }")

        # connections opened at once are spread over the workers (each listens on a socket of its own)
        burst = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for _ in range(32)]
        try:
            for conn in burst:
                conn.connect()  # all open before any request
            reached = {0: 0, 1: 0}
            for conn in burst:
                conn.request("GET", "/admin/models", headers=AUTH)
                reached[json.loads(conn.getresponse().read())["process"]["worker"]] += 1
            assert min(reached.values()) >= 4, reached
        finally:
            for conn in burst:
                conn.close()

        # SIGTERM with requests in flight in both workers: every one finishes, the command exits 0
        pending: list[Pending] = []
        while {p.worker for p in pending} != {0, 1} or len(pending) < 4:
            pending.append(Pending("127.0.0.1", port))
            assert len(pending) < 64, "connections always reached the same worker"
        process.send_signal(signal.SIGTERM)
        time.sleep(1.0)  # both workers now shut down, waiting for these requests
        assert process.poll() is None
        for p in pending:
            status, body = p.finish()
            assert status == 200 and json.loads(body)["version"] == 2, body
        assert process.wait(60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    output = log.read_text()
    assert output.count("Application shutdown complete") == 2, output[-3000:]


def test_a_grpc_port_in_use_stops_the_workers_before_they_start(tmp_path):
    repo = export_versions(tmp_path / "repo", "ads", 1)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        grpc_port = taken.getsockname()[1]
        log = tmp_path / "serve.log"
        process = start_service(repo, free_port(), ["--workers", "2", "--grpc-port", str(grpc_port)], log)
        try:
            assert process.wait(120) != 0
        finally:
            if process.poll() is None:
                process.kill()
    output = log.read_text()
    assert f"the gRPC server cannot listen on 127.0.0.1:{grpc_port} (is the port in use?" in output, output[-3000:]
    assert "Started parent process" not in output  # refused before any worker was started


@pytest.mark.slow
def test_workers_stop_when_their_supervisor_is_killed(tmp_path):
    repo = export_versions(tmp_path / "repo", "ads", 1)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    process = start_service(repo, port, ["--workers", "2", "--admin-token", TOKEN, "--poll-interval-s", "0"], log)
    try:
        wait_ready(url, process, 240, log)
        pids = {w["process"]["pid"] for w in by_worker(url, lambda a: bool(a["models"])).values()}
        process.kill()  # SIGKILL: the supervisor cannot stop its workers itself
        process.wait(10)
        deadline = time.monotonic() + 60
        while any(map(running, pids)):
            assert time.monotonic() < deadline, "a worker outlived its supervisor"
            time.sleep(0.2)
        with pytest.raises(httpx.ConnectError):  # nothing holds the port any more
            httpx.get(f"{url}/healthz", timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
