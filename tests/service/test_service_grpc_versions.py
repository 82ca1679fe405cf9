"""gRPC calls while versions switch, and gRPC deadlines, on fake bundles (no TensorFlow model calls)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
from service_helpers import (
    TOKEN,
    FakeLoader,
    admin_headers,
    free_port,
    metric_value,
    serve,
    settings,
    write_fake_model,
)

tfs = pytest.importorskip("tensorflow_serving.apis.prediction_service_pb2_grpc")
pytest.importorskip("tritonclient.grpc")
from tensorflow_serving.apis import predict_pb2  # noqa: E402
from tritonclient.grpc import service_pb2, service_pb2_grpc  # noqa: E402

ROWS = {"C1": [b"a", b"bb", b"", b"dddd"], "user_id": [3, 7, 11, 0], "I1": [0.5, -1.0, 2.0, 0.0]}


class VersionedLoader(FakeLoader):
    """Fake bundles whose scores move with their version, so an answer shows which version computed it."""

    def __call__(self, path: Path):
        bundle = super().__call__(path)
        score, version = bundle.signature, int(Path(path).name)
        bundle.signature = lambda **columns: {k: v + 0.01 * version for k, v in score(**columns).items()}
        return bundle


def tf_request(version: int | None = None) -> predict_pb2.PredictRequest:
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "ads"
    if version is not None:
        request.model_spec.version.value = version
    shape = tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=4)])
    request.inputs["C1"].CopyFrom(tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, tensor_shape=shape,
                                                         string_val=ROWS["C1"]))
    request.inputs["user_id"].CopyFrom(tensor_pb2.TensorProto(
        dtype=types_pb2.DT_INT64, tensor_shape=shape, tensor_content=np.array(ROWS["user_id"], "<i8").tobytes()))
    request.inputs["I1"].CopyFrom(tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_shape=shape,
                                                         float_val=ROWS["I1"]))
    return request


def oip_request() -> service_pb2.ModelInferRequest:
    request = service_pb2.ModelInferRequest(model_name="ads")
    request.inputs.add(name="C1", datatype="BYTES", shape=[4]).contents.bytes_contents.extend(ROWS["C1"])
    request.inputs.add(name="user_id", datatype="INT32", shape=[4]).contents.int_contents.extend(ROWS["user_id"])
    request.inputs.add(name="I1", datatype="FP32", shape=[4]).contents.fp32_contents.extend(ROWS["I1"])
    return request


@pytest.fixture
def repo(tmp_path):
    for version in (1, 2):
        write_fake_model(tmp_path, "ads", version)
    return tmp_path


def test_calls_during_version_switches_are_answered_by_one_whole_version(repo):
    port = free_port()
    config = settings(repo, admin_token=TOKEN, grpc_port=port, version_policy="specific",
                      model_versions={"ads": 1}, request_timeout_ms=30_000)
    with serve(config, loader=VersionedLoader()) as server:
        http = httpx.Client(base_url=server.url, headers=admin_headers(), timeout=30)
        assert http.post("/admin/models/ads/versions/2:load").status_code == 200
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            tf_stub = tfs.PredictionServiceStub(channel)
            oip_stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
            expected = {}
            for v in (1, 2):
                answer = tf_stub.Predict(tf_request(v), timeout=30)
                expected[v] = np.frombuffer(answer.outputs["ctr"].tensor_content, "<f4")
            assert not np.allclose(expected[1], expected[2])
            answers: list[tuple[int, np.ndarray]] = []
            failures: list[BaseException] = []
            stop = threading.Event()

            def client(tf: bool) -> None:
                try:
                    while not stop.is_set():
                        if tf:
                            a = tf_stub.Predict(tf_request(), timeout=30)
                            answers.append((a.model_spec.version.value,
                                            np.frombuffer(a.outputs["ctr"].tensor_content, "<f4")))
                        else:
                            a = oip_stub.ModelInfer(oip_request(), timeout=30)
                            answers.append((int(a.model_version), np.frombuffer(a.raw_output_contents[0], "<f4")))
                except BaseException as exc:  # noqa: BLE001 (reported below)
                    failures.append(exc)

            threads = [threading.Thread(target=client, args=(i % 2 == 0,)) for i in range(4)]
            for t in threads:
                t.start()
            for path in ["/admin/models/ads/versions/2:activate", "/admin/models/ads:rollback"] * 3:
                time.sleep(0.15)
                assert http.post(path).status_code == 200
            http.put("/admin/models/ads/traffic", json={"split": {"1": 50, "2": 50}})
            time.sleep(0.3)
            stop.set()
            for t in threads:
                t.join(30)
        assert not failures, failures
        seen = {version for version, _ in answers}
        assert seen == {1, 2}, seen
        for version, scores in answers:  # every answer is one version's, all of its rows
            np.testing.assert_allclose(scores, expected[version], atol=1e-6)


def test_a_grpc_deadline_is_honoured(repo):
    port = free_port()
    with serve(settings(repo, grpc_port=port, request_timeout_ms=30_000), loader=FakeLoader(delay=0.4)) as server:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = tfs.PredictionServiceStub(channel)
            busy = threading.Thread(target=lambda: stub.Predict(tf_request(), timeout=30))
            busy.start()
            time.sleep(0.1)  # the model is busy for 0.4 s
            started = time.monotonic()
            with pytest.raises(grpc.RpcError) as caught:
                stub.Predict(tf_request(), timeout=0.2)
            elapsed = time.monotonic() - started
            busy.join(30)
        # refused at once: at the rate the model scores, the rows could not be scored within 0.2 s
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE, caught.value
        assert "past the deadline" in caught.value.details() and elapsed < 0.15
        text = httpx.get(f"{server.url}/metrics").text
        assert metric_value(text, "ctrkit_requests_total", endpoint="tf_grpc_predict", status="503") == 1


def test_a_grpc_port_in_use_stops_the_start_up(repo):
    import asyncio
    import socket

    from service.app import create_app

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        app = create_app(settings(repo, grpc_port=taken.getsockname()[1]), loader=FakeLoader())

        async def start() -> None:
            async with app.api.router.lifespan_context(app.api):
                pass

        with pytest.raises(RuntimeError, match="cannot listen on 127.0.0.1:.*--grpc-port"):
            asyncio.run(start())


def test_grpc_and_rest_rows_share_model_calls(repo):
    port = free_port()
    loader = FakeLoader()
    with serve(settings(repo, grpc_port=port, request_timeout_ms=30_000), loader=loader) as server:
        bundle = loader.bundles["ads/2"]  # the latest version serves
        bundle.delay = 2.0  # long enough for both requests to arrive while the model is busy
        batcher = server.app.state.registry.models["ads"].versions[2].batcher
        rest_rows = [{"C1": "a", "user_id": 3, "I1": 0.5}, {"C1": "zz", "user_id": 9, "I1": 1.5},
                     {"C1": "", "user_id": 0, "I1": -2.0}]
        answers = {}

        def rest(key, rows):
            answers[key] = httpx.post(f"{server.url}/predict", json={"model": "ads", "instances": rows}, timeout=30)

        def wait(condition):
            deadline = time.monotonic() + 20
            while not condition():
                assert time.monotonic() < deadline
                time.sleep(0.005)

        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = tfs.PredictionServiceStub(channel)
            threads = [threading.Thread(target=rest, args=("busy", rest_rows[:1]))]
            threads[0].start()
            wait(lambda: batcher.in_flight == 1)  # the model is busy: what comes now waits for the next call
            threads.append(threading.Thread(target=rest, args=("rest", rest_rows)))
            threads.append(threading.Thread(target=lambda: answers.update(grpc=stub.Predict(tf_request(), timeout=30))))
            for t in threads[1:]:
                t.start()
            wait(lambda: batcher.queued_rows == 3 + 4)
            for t in threads:
                t.join(30)
        assert answers["rest"].status_code == 200 and answers["busy"].status_code == 200
        assert 3 + 4 in bundle.calls  # one call took the REST request's rows and the gRPC call's together
        grpc_scores = np.frombuffer(answers["grpc"].outputs["ctr"].tensor_content, "<f4")
        alone = httpx.post(f"{server.url}/predict", timeout=30, json={"model": "ads", "inputs": {
            "C1": [v.decode() for v in ROWS["C1"]], "user_id": ROWS["user_id"], "I1": ROWS["I1"]}}).json()
        np.testing.assert_allclose(grpc_scores, alone["predictions"], atol=1e-6)
