"""``ctrkit serve`` in a process of its own: SIGTERM lets queued requests finish."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from conftest import make_rows, reference_columns
from service_helpers import free_port, wait_until_ready

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_sigterm_drains_in_flight_requests(deepfm_repo, deepfm_bundle):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2", "CTR_LOG_LEVEL": "info"}
    command = [
        sys.executable, "-c", "import sys; from service.cli import main; sys.exit(main(sys.argv[1:]))",
        "--model-repository", str(deepfm_repo), "--port", str(port), "--poll-interval-s", "0",
        "--batch-timeout-ms", "1500", "--request-timeout-ms", "10000",
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
        rows = make_rows(np.random.default_rng(8), 5)
        answer = {}

        def request():
            answer["r"] = httpx.post(f"{url}/predict", json={"instances": rows}, timeout=30)

        thread = threading.Thread(target=request)
        thread.start()
        time.sleep(0.4)  # the request now waits in the batching queue
        process.send_signal(signal.SIGTERM)
        thread.join(30)
        assert answer["r"].status_code == 200, answer["r"].text
        np.testing.assert_allclose(
            answer["r"].json()["predictions"], deepfm_bundle.predict(reference_columns(rows))["ctr"], atol=1e-5
        )
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        output = process.communicate()[0]
    assert "Shutting down" in output
