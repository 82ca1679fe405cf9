"""Versions go live and back under load without a failed request.

Eight clients predict in a loop while versions 1 to 3 are exported into the
repository, activated by the ``latest`` policy, rolled back, loaded and activated
through the admin API. Each version scores differently (its output bias
differs), so every answer's score shows which version really computed it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx
import numpy as np
import pytest
from service_helpers import TOKEN, admin_headers, metric_value, serve, settings

AUTH = admin_headers()
ROWS = [{"C1": "a", "user_id": 3, "I1": 0.5}, {"C1": "b", "user_id": 7, "I1": -1.0}]
BIASES = {1: -3.0, 2: 0.0, 3: 3.0}


def feature_columns():
    from ctrkit.feature_column import DenseFeat, SparseFeat

    return [SparseFeat("C1", 100, 4, use_hash=True, dtype="string"), SparseFeat("user_id", 50, 4), DenseFeat("I1", 1)]


def build_model(bias: float):
    import keras

    from ctrkit.layers.core import PredictionLayer
    from ctrkit.models import DeepFM

    keras.utils.set_random_seed(5)
    fcs = feature_columns()
    model = DeepFM(fcs, fcs, dnn_hidden_units=(8,))
    [layer] = [layer for layer in model.layers if isinstance(layer, PredictionLayer)]
    for weight in layer.weights:
        weight.assign(np.full(weight.shape, bias, dtype="float32"))
    return model


def export(model, repo):
    from ctrkit.export import export_model, load_bundle

    path = export_model(model, repo / "ads", feature_columns())
    columns = {name: [row[name] for row in ROWS] for name in ROWS[0]}
    return int(path.name), load_bundle(path).predict(columns)["ctr"]


@dataclass
class Answer:
    sent: float
    received: float
    status: int
    version: int | None
    scores: list[float] | None
    header: str | None


@dataclass
class Switch:
    """``version`` took requests naming no version from some instant in ``[low, high]``."""

    version: int
    low: float
    high: float


@pytest.mark.slow
def test_versions_move_under_load_without_a_failed_request(tmp_path):
    models = {v: build_model(b) for v, b in BIASES.items()}
    expected = {}
    version, expected[1] = export(models[1], tmp_path)
    assert version == 1
    config = settings(tmp_path, admin_token=TOKEN, poll_interval_s=0.2, request_timeout_ms=30_000,
                      version_policy="latest", retain_versions=2)
    answers: list[Answer] = []
    switches: list[Switch] = []

    with serve(config) as server:
        async def client(http: httpx.AsyncClient, tf: bool, stop: asyncio.Event) -> None:
            while not stop.is_set():
                sent = time.monotonic()
                if tf:
                    r = await http.post("/v1/models/ads:predict", json={"instances": ROWS})
                else:
                    r = await http.post("/predict", json={"model": "ads", "instances": ROWS})
                received = time.monotonic()
                version = scores = None
                if r.status_code == 200:
                    body = r.json()
                    version = int(body["model_spec"]["version"]) if tf else body["version"]
                    scores = body["predictions"]
                answers.append(Answer(sent, received, r.status_code, version, scores, r.headers.get("x-model-version")))

        async def converged(http: httpx.AsyncClient, version: int, after: float, count: int = 16) -> None:
            deadline = time.monotonic() + 60
            while sum(1 for a in answers if a.sent > after and a.version == version) < count:
                assert time.monotonic() < deadline, f"answers did not move to version {version}"
                await asyncio.sleep(0.02)

        async def admin(http: httpx.AsyncClient, method: str, path: str, serving: int | None = None) -> None:
            low = time.monotonic()
            r = await http.request(method, f"/admin/models/ads{path}", headers=AUTH)
            high = time.monotonic()
            assert r.status_code == 200, r.text
            if serving is not None:
                assert r.json()["serving"] == serving
                switches.append(Switch(serving, low, high))
                await converged(http, serving, high)

        async def state_of(http: httpx.AsyncClient) -> dict:
            return (await http.get("/admin/models", headers=AUTH)).json()["models"][0]

        async def appears(http: httpx.AsyncClient, model) -> None:
            """Exports the next version and waits for the poller to make it serve."""
            low = time.monotonic()
            version, expected[version] = await asyncio.to_thread(export, model, tmp_path)
            deadline = time.monotonic() + 60
            while (await state_of(http))["serving"] != version:
                assert time.monotonic() < deadline, f"version {version} was not activated"
                await asyncio.sleep(0.02)
            high = time.monotonic()
            switches.append(Switch(version, low, high))
            await converged(http, version, high)

        async def main() -> None:
            stop = asyncio.Event()
            limits = httpx.Limits(max_connections=16)
            async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as http:
                switches.append(Switch(1, 0.0, time.monotonic()))
                clients = [asyncio.create_task(client(http, tf=i >= 6, stop=stop)) for i in range(8)]
                try:
                    await converged(http, 1, 0.0)
                    await appears(http, models[2])  # latest policy: 2 serves
                    await admin(http, "POST", ":rollback", serving=1)
                    await admin(http, "POST", "/versions/2:activate", serving=2)
                    await appears(http, models[3])  # latest policy: 3 serves, 1 is unloaded
                    deadline = time.monotonic() + 30
                    while {v["version"]: v["state"] for v in (await state_of(http))["versions"]} != {
                        1: "unloaded", 2: "ready", 3: "serving"
                    }:
                        assert time.monotonic() < deadline
                        await asyncio.sleep(0.05)
                    await admin(http, "POST", ":rollback", serving=2)
                    await admin(http, "POST", "/versions/1:load")  # ready, not serving
                    await converged(http, 2, time.monotonic())
                    await admin(http, "POST", "/versions/1:activate", serving=1)
                    await admin(http, "POST", ":rollback", serving=2)
                finally:
                    stop.set()
                    await asyncio.gather(*clients)

        asyncio.run(main())
        metrics = httpx.get(f"{server.url}/metrics").text

    failed = [a for a in answers if a.status != 200]
    assert not failed, f"{len(failed)} of {len(answers)} requests failed: {failed[:3]}"
    assert len(answers) > 200
    for a in answers:
        np.testing.assert_allclose(a.scores, expected[a.version], atol=1e-5)  # the named version computed it
        assert a.header == str(a.version)
    assert expected[1].max() < 0.2 and 0.2 < expected[2].min() < expected[2].max() < 0.8 and expected[3].min() > 0.8

    for a in answers:
        # the answering version served at some instant between sending and receiving
        assert any(
            s.version == a.version and s.low <= a.received and (i + 1 == len(switches) or switches[i + 1].high >= a.sent)
            for i, s in enumerate(switches)
        ), (a, switches)
    for i, s in enumerate(switches):
        # once a switch has answered, every request sent before the next switch goes to its version
        end = switches[i + 1].low if i + 1 < len(switches) else float("inf")
        window = [a.version for a in answers if s.high < a.sent and a.received < end]
        assert window and set(window) == {s.version}, (s, sorted(set(window)))

    for v in (1, 2, 3):
        ok = sum(metric_value(metrics, "ctrkit_requests_total", model="ads", version=str(v), endpoint=e, status="200")
                 for e in ("predict", "tf_predict"))
        assert ok == sum(1 for a in answers if a.version == v)
