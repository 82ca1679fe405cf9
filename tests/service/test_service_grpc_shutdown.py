"""``ctrkit serve`` with gRPC in a process of its own: SIGTERM lets running gRPC calls finish."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
from conftest import make_rows, reference_columns
from protocol_helpers import arrays_from_metadata, tensor_rows
from service_helpers import free_port, wait_until_ready

pytest.importorskip("tensorflow_serving.apis.predict_pb2")

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_sigterm_lets_running_grpc_calls_finish(deepfm_repo, deepfm_bundle):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    port, grpc_port = free_port(), free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2", "CTR_LOG_LEVEL": "info"}
    command = [
        sys.executable, "-c", "import sys; from service.cli import main; sys.exit(main(sys.argv[1:]))",
        "--model-repository", str(deepfm_repo), "--port", str(port), "--grpc-port", str(grpc_port),
        "--poll-interval-s", "0", "--request-timeout-ms", "10000",
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                wait_until_ready(url, timeout=1)
                break
            except (httpx.HTTPError, RuntimeError):
                assert process.poll() is None and time.monotonic() < deadline, "the server did not start"
        rows = tensor_rows(make_rows(np.random.default_rng(9), 1000))
        expected = deepfm_bundle.predict(reference_columns(rows))["ctr"]
        inputs = httpx.get(f"{url}/v2/models/deepfm").json()["inputs"]
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "deepfm"
        for name, array in arrays_from_metadata(rows, inputs).items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(array))
        # three clients calling back to back, so that calls are running whenever the signal comes
        outcomes: list[list[tuple[float, float, object]]] = [[], [], []]

        def calls(mine):
            with grpc.insecure_channel(f"127.0.0.1:{grpc_port}",
                                       options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
                stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
                while True:
                    sent = time.monotonic()
                    try:
                        answer = stub.Predict(request, timeout=20)
                    except grpc.RpcError as exc:
                        mine.append((sent, time.monotonic(), exc.code()))
                        return
                    mine.append((sent, time.monotonic(), tf.make_ndarray(answer.outputs["ctr"])))

        threads = [threading.Thread(target=calls, args=(mine,)) for mine in outcomes]
        for thread in threads:
            thread.start()
        while min(map(len, outcomes)) < 3:
            time.sleep(0.01)
            assert all(thread.is_alive() for thread in threads), outcomes
        stopped = time.monotonic()
        process.send_signal(signal.SIGTERM)
        for thread in threads:
            thread.join(60)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        output = process.communicate()[0]
    answered = []
    for *taken, (_, _, refused) in outcomes:
        # Once stopped, new calls are refused: UNAVAILABLE when the connection is
        # closed, CANCELLED when the call's stream opened as the server shut down
        # (gRPC resets it); either way nothing was computed for it.
        assert refused in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED), output[-2000:]
        answered += taken
    for _, _, scores in answered:  # every call the server took was answered in full
        np.testing.assert_allclose(scores, expected, atol=1e-5)
    assert any(sent < stopped < done for sent, done, _ in answered), "no call was running at SIGTERM"
