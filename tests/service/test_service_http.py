"""The service over real HTTP: uvicorn on loopback, real exported models, httpx clients."""

from __future__ import annotations

import asyncio
import re
import threading
import time

import httpx
import numpy as np
import orjson
import pytest
from conftest import make_rows, reference_columns
from service_helpers import FakeLoader, metric_value, serve, settings, write_fake_model

from service.errors import PayloadError
from service.http import read_body

JSON = {"content-type": "application/json"}


def post(url: str, payload, **kwargs) -> httpx.Response:
    return httpx.post(f"{url}/predict", content=orjson.dumps(payload), headers=JSON, timeout=30, **kwargs)


def columns_of(rows):
    names = dict.fromkeys(name for row in rows for name in row)
    return {name: [row.get(name) for row in rows] for name in names}


def test_row_and_column_forms_match_the_bundle(live, deepfm_bundle):
    rng = np.random.default_rng(1)
    rows = make_rows(rng, 40) + make_rows(rng, 20, with_defaults=False)
    expected = deepfm_bundle.predict(reference_columns(rows))["ctr"]
    by_rows = post(live.url, {"model": "deepfm", "instances": rows})
    assert by_rows.status_code == 200, by_rows.text
    body = by_rows.json()
    assert body["model"] == "deepfm" and body["version"] == 1
    np.testing.assert_allclose(body["predictions"], expected, atol=1e-5)
    full = make_rows(rng, 30)
    by_columns = post(live.url, {"model": "deepfm", "version": 1, "inputs": columns_of(full)})
    assert by_columns.status_code == 200, by_columns.text
    np.testing.assert_allclose(
        by_columns.json()["predictions"], deepfm_bundle.predict(reference_columns(full))["ctr"], atol=1e-5
    )
    assert all(0 < p < 1 for p in body["predictions"])


def test_multitask_answer_names_every_output(live, model_repo):
    if not (model_repo / "mmoe").exists():
        pytest.skip("no multi-task model in this build")
    from ctrkit.export import load_bundle

    rows = make_rows(np.random.default_rng(2), 7)
    answer = post(live.url, {"model": "mmoe", "instances": rows})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    expected = load_bundle(model_repo / "mmoe" / "1").predict(reference_columns(rows))
    assert set(body["outputs"]) == {"ctr", "cvr"} and body["version"] == 1
    for task in ("ctr", "cvr"):
        np.testing.assert_allclose(body["outputs"][task], expected[task], atol=1e-5)


def bad_rows(feature, value, row=2):
    rows = make_rows(np.random.default_rng(3), 4)
    if value is KeyError:
        del rows[row][feature]
    else:
        rows[row][feature] = value
    if feature == "tags_w":
        rows[row]["tags"] = [1]
    return rows


@pytest.mark.parametrize(
    "feature, value, words",
    [
        ("colour", "red", "unknown feature"),
        ("user_id", KeyError, "missing required feature"),
        ("user_id", "7", "expected an integer"),
        ("C1", 12, "expected a string"),
        ("user_id", 120, "outside [0, 120)"),
        ("item_id", -3, "outside [0, 300)"),
        ("hist", [1, 2, 50], "outside [0, 50)"),
        ("genres", ["a", "b", "c", "d", "e", "f"], "longer than maxlen 5"),
        ("emb", [1.0, 2.0], "3 numbers"),
        ("tags_w", [1.0, 2.0, 3.0], "weights"),
    ],
)
def test_bad_values_get_422_naming_feature_and_row(live, feature, value, words):
    for payload in (
        {"model": "deepfm", "instances": bad_rows(feature, value)},
        {"model": "deepfm", "inputs": columns_of(bad_rows(feature, value))},
    ):
        answer = post(live.url, payload)
        assert answer.status_code == 422, answer.text
        messages = [d["msg"] for d in answer.json()["detail"]]
        assert any(feature in m and words in m and ("row 2" in m or "inputs" in payload) for m in messages), messages


def test_nan_and_infinity_literals_are_refused_by_feature_and_row(live):
    rows = make_rows(np.random.default_rng(4), 3)
    text = orjson.dumps({"model": "deepfm", "instances": rows}).decode()
    text = text.replace(f'"I1":{orjson.dumps(rows[1]["I1"]).decode()}', '"I1":NaN', 1)
    answer = httpx.post(f"{live.url}/predict", content=text, headers=JSON)
    assert answer.status_code == 422
    [item] = answer.json()["detail"]
    assert item["feature"] == "I1" and item["row"] == 1 and "finite" in item["msg"]
    big = text.replace('"I1":NaN', '"I1":1e999')
    assert httpx.post(f"{live.url}/predict", content=big, headers=JSON).json()["detail"][0]["feature"] == "I1"


@pytest.mark.parametrize(
    "payload, status, words",
    [
        (b"{not json", 422, "not valid JSON"),
        (b"[1, 2]", 422, "JSON object"),
        (b'{"model": "deepfm", "instances": [], "extra": 1}', 422, "unknown field"),
        (b'{"model": "deepfm", "instances": []}', 422, "no rows"),
        (b'{"model": "../deepfm", "instances": [{}]}', 422, "invalid model name"),
        (b'{"model": "deepfm", "version": "1/../2", "instances": [{}]}', 422, "invalid version"),
        (b'{"model": "nope", "instances": [{}]}', 404, "known models: deepfm"),
        (b'{"model": "deepfm", "version": 9, "instances": [{}]}', 404, "loaded versions: 1"),
    ],
)
def test_malformed_requests(live, payload, status, words):
    answer = httpx.post(f"{live.url}/predict", content=payload, headers=JSON)
    assert answer.status_code == status
    assert words in answer.text


def test_too_many_rows_and_too_large_bodies(deepfm_repo):
    rows = make_rows(np.random.default_rng(5), 30)
    with serve(settings(deepfm_repo, max_rows_per_request=20, max_body_bytes=4000)) as server:
        answer = post(server.url, {"model": "deepfm", "instances": rows[:21]})
        assert answer.status_code in (413, 422)
        answer = post(server.url, {"model": "deepfm", "instances": rows[:2]})
        assert answer.status_code == 200
        big = orjson.dumps({"model": "deepfm", "instances": rows})
        assert len(big) > 4000
        assert httpx.post(f"{server.url}/predict", content=big, headers=JSON).status_code == 413

        def chunks():  # no Content-Length: the streamed size is what counts
            for i in range(0, len(big), 500):
                yield big[i:i + 500]

        assert httpx.post(f"{server.url}/predict", content=chunks(), headers=JSON).status_code == 413
    with serve(settings(deepfm_repo, max_rows_per_request=20)) as server:
        answer = post(server.url, {"model": "deepfm", "instances": rows[:21]})
        assert answer.status_code == 422 and "too many rows: 21 > 20" in answer.text


def test_a_body_without_length_is_bounded_however_it_arrives():
    # uvicorn hands over what it has buffered: a streamed body can come whole in the first message
    def receiving(*messages):
        queue = list(messages)

        async def receive():
            return queue.pop(0)
        return receive

    deadline = time.monotonic() + 5
    whole = receiving({"type": "http.request", "body": b"x" * 101, "more_body": False})
    in_parts = receiving({"type": "http.request", "body": b"x" * 60, "more_body": True},
                         {"type": "http.request", "body": b"x" * 41, "more_body": False})
    for receive in (whole, in_parts):
        with pytest.raises(PayloadError) as info:
            asyncio.run(read_body(receive, 100, deadline))
        assert info.value.status_code == 413 and "larger than 100 bytes" in info.value.errors[0]["msg"]
    fits = receiving({"type": "http.request", "body": b"x" * 100, "more_body": False})
    assert asyncio.run(read_body(fits, 100, deadline)) == b"x" * 100


def test_concurrent_mixed_requests_are_batched_and_never_mixed(deepfm_repo, deepfm_bundle):
    rng = np.random.default_rng(6)
    sizes = rng.integers(1, 301, 200).tolist()
    requests = [make_rows(rng, n, with_defaults=bool(i % 2)) for i, n in enumerate(sizes)]
    every = [row for rows in requests for row in rows]
    expected_all = deepfm_bundle.predict(reference_columns(every))["ctr"]
    offsets = np.cumsum([0] + sizes)
    bodies = [
        orjson.dumps({"model": "deepfm", "instances": rows} if i % 3 else {"model": "deepfm", "inputs": columns_of(rows)})
        for i, rows in enumerate(requests)
    ]
    config = settings(deepfm_repo, max_batch_rows=1024, batch_timeout_ms=2, max_queue_rows=100_000,
                      request_timeout_ms=60_000)
    with serve(config) as server:
        async def main():
            limits = httpx.Limits(max_connections=64)
            async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60) as client:
                return await asyncio.gather(*(client.post("/predict", content=b, headers=JSON) for b in bodies))

        answers = asyncio.run(main())
        for i, answer in enumerate(answers):
            assert answer.status_code == 200, answer.text
            np.testing.assert_allclose(
                answer.json()["predictions"], expected_all[offsets[i]:offsets[i + 1]], atol=1e-5
            )
        metrics = httpx.get(f"{server.url}/metrics").text

    def value(name, **labels):
        for line in metrics.splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0])) if "{" in line else {}
                if all(found.get(k) == v for k, v in labels.items()):
                    return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"{name} {labels} not in /metrics")

    total = sum(sizes)
    assert value("ctrkit_requests_total", model="deepfm", version="1", endpoint="predict", status="200") == 200
    assert value("ctrkit_rows_scored_total", model="deepfm", version="1") == total
    assert value("ctrkit_model_call_rows_sum", model="deepfm", version="1") == total
    calls = value("ctrkit_model_call_rows_count", model="deepfm", version="1")
    assert calls < 200  # requests were merged
    assert value("ctrkit_model_call_rows_bucket", model="deepfm", version="1", le="1024.0") == calls
    assert value("ctrkit_model_call_duration_seconds_count", model="deepfm", version="1") == calls
    assert value("ctrkit_queue_wait_seconds_count", model="deepfm", version="1") >= 200
    assert value("ctrkit_request_duration_seconds_count", endpoint="predict") == 200
    assert value("ctrkit_queue_rows", model="deepfm", version="1") == 0
    assert value("ctrkit_model_versions", model="deepfm", version="1", state="serving") == 1
    assert value("ctrkit_prediction_score_count", model="deepfm", version="1", output="ctr") == total
    assert value("ctrkit_prediction_score_bucket", model="deepfm", version="1", output="ctr", le="+Inf") == total
    below_half = value("ctrkit_prediction_score_bucket", model="deepfm", version="1", output="ctr", le="0.5")
    assert below_half == int(np.sum(expected_all <= 0.5))


def test_overload_answers_503_fast_and_deadline_504(tmp_path):
    write_fake_model(tmp_path, "ads", 1)
    rows = [{"user_id": i, "C1": f"c{i}", "genres": ["a"]} for i in range(8)]
    # a request may wait 0.4 s, 10 rows fit in the queue; the model hangs until the test lets it go
    config = settings(tmp_path, max_queue_rows=10, max_rows_per_request=10, request_timeout_ms=400, retry_after_s=2)
    loader = FakeLoader()
    with serve(config, loader=loader) as server:
        bundle = loader.bundles["ads/1"]
        bundle.gate = threading.Event()
        bundle.started.clear()
        results = {}

        def send(key, payload):
            t0 = time.perf_counter()
            results[key] = (post(server.url, payload), time.perf_counter() - t0)

        first = threading.Thread(target=send, args=("first", {"instances": rows}))  # runs at once, and hangs
        first.start()
        assert bundle.started.wait(10)
        second = threading.Thread(target=send, args=("second", {"instances": rows}))  # queues, then too late
        second.start()
        deadline = time.monotonic() + 5
        while metric_value(httpx.get(f"{server.url}/metrics").text, "ctrkit_queue_rows", model="ads") < 8:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        t0 = time.perf_counter()
        refused = post(server.url, {"instances": rows[:3]})  # no room in the queue
        refused_in = time.perf_counter() - t0
        first.join(10)
        second.join(10)
        bundle.gate.set()
        assert refused.status_code == 503 and refused.headers["retry-after"] == "2"
        assert refused_in < 0.3
        late, waited = results["second"]
        assert late.status_code == 504 and "deadline" in late.text
        assert 0.35 < waited < 2.0
        metrics = httpx.get(f"{server.url}/metrics").text
        assert 'ctrkit_requests_total{endpoint="predict",model="ads",status="503",version="1"} 1.0' in metrics
        assert metric_value(metrics, "ctrkit_requests_total", endpoint="predict", model="ads", status="504") == 2


def test_readyz_turns_200_after_warm_up(deepfm_repo):
    from ctrkit.export import load_bundle

    gate = threading.Event()

    def slow_loader(path):
        gate.wait(30)
        return load_bundle(path)

    with serve(settings(deepfm_repo, model_versions={"deepfm": 1}), loader=slow_loader, wait_ready=False) as server:
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        answer = httpx.get(f"{server.url}/readyz")
        assert answer.status_code == 503
        assert post(server.url, {"model": "deepfm", "instances": [{}]}).status_code == 503
        states = {m["name"]: m for m in httpx.get(f"{server.url}/models").json()["models"]}
        assert states["deepfm"]["versions"][0]["state"] == "loading"
        gate.set()
        deadline = time.monotonic() + 30
        while httpx.get(f"{server.url}/readyz").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        states = {m["name"]: m for m in httpx.get(f"{server.url}/models").json()["models"]}
        assert states["deepfm"]["serving"] == 1
        assert states["deepfm"]["versions"][0]["state"] == "serving"
        # the bundle's packed signature reproduces serving_default, so it is used
        assert states["deepfm"]["versions"][0]["signature"] == "serving_packed"


def test_openapi_documents_the_generated_schemas(live):
    doc = httpx.get(f"{live.url}/openapi.json").json()
    schemas = doc["components"]["schemas"]
    row = schemas["deepfm_v1_Row"]
    assert row["properties"]["user_id"]["exclusiveMaximum"] == 120
    assert row["properties"]["genres"]["maxItems"] == 5
    assert row["additionalProperties"] is False
    operation = doc["paths"]["/predict"]["post"]
    refs = [r["$ref"] for r in operation["requestBody"]["content"]["application/json"]["schema"]["anyOf"]]
    assert "#/components/schemas/deepfm_v1_PredictRequest" in refs
    request = schemas["deepfm_v1_PredictRequest"]
    assert {"instances", "inputs", "context", "candidates"} <= set(request["properties"])
    assert {"422", "503", "504", "415"} <= set(operation["responses"])
    assert httpx.get(f"{live.url}/docs").status_code == 200


def test_docs_pages_load_every_asset_from_the_service_itself(live):
    for page in ("/docs", "/redoc"):
        html = httpx.get(f"{live.url}{page}").text
        urls = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", html)
        assert urls, html
        for url in urls:
            assert not re.match(r"^(https?:)?//", url), f"{page} loads {url} from another host"
            if url.startswith("/"):
                assert httpx.get(f"{live.url}{url}").status_code == 200, url
