"""The predict path over real HTTP: request forms, isolation between requests, admission, deadlines."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import httpx
import numpy as np
import orjson
from conftest import make_rows, reference_columns
from service_helpers import FakeLoader, fake_score, metric_value, serve, settings, write_fake_model

JSON = {"content-type": "application/json"}


def post(url: str, payload, **kwargs) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return httpx.post(f"{url}/predict", content=body, headers=JSON, timeout=30, **kwargs)


def columns_of(rows):
    names = dict.fromkeys(name for row in rows for name in row)
    return {name: [row.get(name) for row in rows] for name in names}


CONTEXT = ("C1", "C2", "I2", "emb")


def ranking(rows):
    """The same rows as a ranking request: the first row's context features shared by all."""
    context = {k: rows[0][k] for k in CONTEXT}
    candidates = [{k: v for k, v in row.items() if k not in CONTEXT} for row in rows]
    return context, candidates, [{**row, **context} for row in rows]


def test_rows_columns_and_ranking_give_the_bundles_scores(live, deepfm_bundle):
    rows = make_rows(np.random.default_rng(21), 25)
    expected = deepfm_bundle.predict(reference_columns(rows))["ctr"]
    for payload in ({"model": "deepfm", "instances": rows}, {"model": "deepfm", "inputs": columns_of(rows)}):
        answer = post(live.url, payload)
        assert answer.status_code == 200, answer.text
        np.testing.assert_allclose(answer.json()["predictions"], expected, atol=1e-5)
    context, candidates, merged = ranking(rows)
    expected = deepfm_bundle.predict(reference_columns(merged))["ctr"]
    for shaped in (candidates, columns_of(candidates)):
        answer = post(live.url, {"model": "deepfm", "context": context, "candidates": shaped})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["model"] == "deepfm" and body["version"] == 1 and answer.headers["x-model-version"] == "1"
        np.testing.assert_allclose(body["predictions"], expected, atol=1e-5)


def test_concurrent_requests_of_every_form_never_see_each_others_scores(deepfm_repo, deepfm_bundle):
    rng = np.random.default_rng(22)
    requests = [make_rows(rng, int(n)) for n in rng.integers(1, 120, 90)]
    bodies, expected = [], []
    for i, rows in enumerate(requests):
        if i % 3 == 0:
            bodies.append({"instances": rows})
            expected.append(deepfm_bundle.predict(reference_columns(rows))["ctr"])
        elif i % 3 == 1:
            bodies.append({"inputs": columns_of(rows)})
            expected.append(deepfm_bundle.predict(reference_columns(rows))["ctr"])
        else:
            context, candidates, merged = ranking(rows)
            bodies.append({"context": context, "candidates": candidates})
            expected.append(deepfm_bundle.predict(reference_columns(merged))["ctr"])
    with serve(settings(deepfm_repo, request_timeout_ms=60_000)) as server:
        async def main():
            async with httpx.AsyncClient(base_url=server.url, limits=httpx.Limits(max_connections=48),
                                         timeout=60) as client:
                return await asyncio.gather(*(client.post("/predict", content=orjson.dumps(b), headers=JSON)
                                              for b in bodies))

        answers = asyncio.run(main())
        metrics = httpx.get(f"{server.url}/metrics").text
    for answer, scores in zip(answers, expected):
        assert answer.status_code == 200, answer.text
        np.testing.assert_allclose(answer.json()["predictions"], scores, atol=1e-5)
    assert metric_value(metrics, "ctrkit_model_call_rows_count", model="deepfm") < len(bodies)  # calls were shared


def test_a_lone_surrogate_fails_only_its_own_request(deepfm_repo, deepfm_bundle):
    rng = np.random.default_rng(23)
    good = [make_rows(rng, 20) for _ in range(40)]
    bad = orjson.dumps({"instances": make_rows(rng, 3)}).replace(b'"C1":"', b'"C1":"\\ud800', 1)
    bodies = [orjson.dumps({"instances": rows}) for rows in good]
    bodies[20:20] = [bad] * 10
    with serve(settings(deepfm_repo)) as server:
        async def main():
            async with httpx.AsyncClient(base_url=server.url, limits=httpx.Limits(max_connections=16),
                                         timeout=60) as client:
                return await asyncio.gather(*(client.post("/predict", content=b, headers=JSON) for b in bodies))

        answers = asyncio.run(main())
    refused = [a for a in answers if a.status_code != 200]
    assert len(refused) == 10
    for answer in refused:
        assert answer.status_code == 422
        [item] = answer.json()["detail"]
        assert item["row"] == 0 and item["feature"] == "C1" and "surrogate" in item["msg"]
    scored = [a for a in answers if a.status_code == 200]
    for answer, rows in zip(scored, good):
        np.testing.assert_allclose(answer.json()["predictions"], deepfm_bundle.predict(reference_columns(rows))["ctr"],
                                   atol=1e-5)


def test_a_request_failing_inside_a_merged_call_fails_alone(tmp_path):
    write_fake_model(tmp_path, "ads", 1)
    loader = FakeLoader(delay=0.05)
    rows = [[{"user_id": i, "C1": f"ad{i}-{k}", "genres": ["g"] * (k % 3)} for k in range(1 + i % 4)]
            for i in range(12)]
    rows[5][0]["C1"] = "poison"
    with serve(settings(tmp_path), loader=loader) as server:
        async def main():
            async with httpx.AsyncClient(base_url=server.url, limits=httpx.Limits(max_connections=12),
                                         timeout=30) as client:
                return await asyncio.gather(*(client.post("/predict", json={"instances": r}) for r in rows))

        answers = asyncio.run(main())
        metrics = httpx.get(f"{server.url}/metrics").text
    bundle = loader.bundles["ads/1"]
    for i, (answer, request_rows) in enumerate(zip(answers, rows)):
        if i == 5:
            assert answer.status_code == 500 and "poison" in answer.text
            continue
        assert answer.status_code == 200, answer.text
        columns = {
            "C1": np.array([r["C1"] for r in request_rows], dtype=object),
            "user_id": np.array([r["user_id"] for r in request_rows]),
            "I1": np.zeros(len(request_rows)),
            "genres": np.array([r["genres"] + [""] * (5 - len(r["genres"])) for r in request_rows], dtype=object),
            "genres_len": np.array([len(r["genres"]) for r in request_rows]),
        }
        np.testing.assert_allclose(answer.json()["predictions"], fake_score(columns), atol=1e-6)
    merged = [n for n in bundle.calls if n > 4]
    assert merged, bundle.calls  # requests did share calls, and the failing one was scored again alone
    assert metric_value(metrics, "ctrkit_requests_total", endpoint="predict", status="500") == 1


def _send_headers(url: str, length: int) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    conn = socket.create_connection((host, int(port)), timeout=10)
    conn.sendall(f"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {length}\r\n\r\n".encode())
    return conn


def test_a_request_over_the_body_budget_is_refused_before_its_body_is_sent(tmp_path):
    write_fake_model(tmp_path, "ads", 1)
    config = settings(tmp_path, max_body_bytes=50_000, max_inflight_bytes=60_000, retry_after_s=3)
    with serve(config, loader=FakeLoader()) as server:
        holder = _send_headers(server.url, 48_000)  # its body never comes: its bytes stay reserved
        holder.sendall(b'{"instances": [')
        time.sleep(0.2)
        late = _send_headers(server.url, 30_000)
        t0 = time.perf_counter()
        answer = late.recv(65536)  # answered although not one byte of its body was sent
        waited = time.perf_counter() - t0
        assert answer.startswith(b"HTTP/1.1 503") and b"retry-after: 3" in answer.lower()
        assert b"too many request bytes" in answer
        assert waited < 1.0
        small = post(server.url, {"instances": [{"user_id": 1}]})  # small requests keep being served
        assert small.status_code == 200
        metrics = httpx.get(f"{server.url}/metrics").text
        assert metric_value(metrics, "ctrkit_requests_refused_total", reason="body_bytes") == 1
        holder.close()
        late.close()


def test_a_request_past_its_deadline_is_not_computed(tmp_path):
    write_fake_model(tmp_path, "ads", 1)
    loader = FakeLoader(delay=0.01)
    with serve(settings(tmp_path, request_timeout_ms=300), loader=loader) as server:
        bundle = loader.bundles["ads/1"]
        bundle.delay = 0.4  # the model turns slower than its warm-up measured: the queue overruns deadlines
        results = {}

        def send(key, rows):
            results[key] = post(server.url, {"instances": [{"user_id": 1}] * rows})

        first = threading.Thread(target=send, args=("first", 2))
        first.start()
        time.sleep(0.1)
        calls_before = len(bundle.calls)
        late = threading.Thread(target=send, args=("late", 3))
        late.start()
        first.join()
        late.join()
        time.sleep(0.5)  # the call in progress ends; nothing else starts
        assert results["first"].status_code == 504 and results["late"].status_code == 504
        assert bundle.calls[calls_before:] == [2]  # the late request's 3 rows never reached the model
        metrics = httpx.get(f"{server.url}/metrics").text
        assert metric_value(metrics, "ctrkit_requests_total", endpoint="predict", status="504") == 2
