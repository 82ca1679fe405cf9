"""The admin API over real HTTP, on fake bundles: auth, every route, drained unloads, canary splits."""

from __future__ import annotations

import asyncio
import logging
import math
import time

import httpx
import pytest
from service_helpers import (
    TOKEN,
    FakeLoader,
    admin_headers,
    metric_value,
    raw_request,
    serve,
    settings,
    write_fake_model,
)

ROW = {"C1": "abc", "user_id": 5, "I1": 1.5, "genres": ["a", "bb"]}
AUTH = admin_headers()


def admin_settings(repo, **overrides):
    return settings(repo, admin_token=TOKEN, **overrides)


def listing(url, name="ads"):
    answer = httpx.get(f"{url}/admin/models", headers=AUTH)
    assert answer.status_code == 200, answer.text
    return {m["name"]: m for m in answer.json()["models"]}[name]


def states(url, name="ads"):
    return {v["version"]: v["state"] for v in listing(url, name)["versions"]}


def predict(url, **body):
    answer = httpx.post(f"{url}/predict", json={"instances": [ROW], **body})
    assert answer.status_code == 200, answer.text
    return answer.json()["version"]


@pytest.fixture()
def three_versions(tmp_path):
    for v in (1, 2, 3):
        write_fake_model(tmp_path, "ads", v)
    return tmp_path


def test_admin_routes_need_the_bearer_token(three_versions, caplog):
    with caplog.at_level(logging.INFO, logger="service.app"):
        with serve(admin_settings(three_versions), loader=FakeLoader()) as server:
            url = f"{server.url}/admin/models"
            routes = [
                ("GET", url, None), ("POST", f"{url}/ads/versions/1:load", None),
                ("POST", f"{url}/ads/versions/1:activate", None), ("POST", f"{url}/ads:rollback", None),
                ("DELETE", f"{url}/ads/versions/1", None), ("PUT", f"{url}/ads/traffic", {"split": {"3": 100}}),
            ]
            for method, route, body in routes:
                for headers in ({}, admin_headers("wrong-token"), {"Authorization": f"Basic {TOKEN}"},
                                {"Authorization": "Bearer"}):
                    answer = httpx.request(method, route, headers=headers, json=body)
                    assert answer.status_code == 401, (method, route, headers, answer.text)
                    assert answer.headers["www-authenticate"].startswith("Bearer")
            assert "invalid_token" in httpx.get(url, headers=admin_headers("wrong")).headers["www-authenticate"]
            assert httpx.get(url, headers=AUTH).status_code == 200
            assert listing(server.url)["serving"] == 3  # nothing above changed anything
    assert any("admin API enabled" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("token", [None, ""])
def test_admin_is_disabled_without_a_token(three_versions, caplog, token):
    with caplog.at_level(logging.INFO, logger="service.app"):
        with serve(settings(three_versions, admin_token=token), loader=FakeLoader()) as server:
            for headers in ({}, AUTH):
                answer = httpx.post(f"{server.url}/admin/models/ads/versions/1:activate", headers=headers)
                assert answer.status_code == 403
                assert "admin API is disabled" in answer.json()["detail"] and "CTR_ADMIN_TOKEN" in answer.text
            assert predict(server.url) == 3
    assert any("admin API disabled" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def test_load_activate_rollback_unload_and_list(three_versions):
    with serve(admin_settings(three_versions, version_policy="specific", model_versions={"ads": 1}),
               loader=FakeLoader()) as server:
        url, base = server.url, f"{server.url}/admin/models/ads"
        assert states(url) == {1: "serving", 2: "unloaded", 3: "unloaded"}
        loaded = httpx.post(f"{base}/versions/2:load", headers=AUTH)
        assert loaded.status_code == 200 and loaded.json()["state"] == "ready" and loaded.json()["model"] == "ads"
        assert predict(url) == 1  # loaded is not serving
        assert predict(url, version=2) == 2  # but answers when named
        activated = httpx.post(f"{base}/versions/3:activate", headers=AUTH)  # loads first
        assert activated.status_code == 200, activated.text
        body = activated.json()
        assert body["serving"] == 3 and body["rollback_to"] == 1 and body["traffic"] is None
        assert predict(url) == 3
        assert states(url) == {1: "ready", 2: "ready", 3: "serving"}
        tf = httpx.get(f"{url}/v1/models/ads").json()["model_version_status"]
        assert [(s["version"], s["state"]) for s in tf] == [("3", "AVAILABLE"), ("2", "AVAILABLE"), ("1", "AVAILABLE")]

        assert httpx.post(f"{base}:rollback", headers=AUTH).json()["serving"] == 1
        assert predict(url) == 1
        conflict = httpx.post(f"{base}:rollback", headers=AUTH)  # history is empty now
        assert conflict.status_code == 409 and "no previous version" in conflict.json()["detail"]

        refused = httpx.delete(f"{base}/versions/1", headers=AUTH)
        assert refused.status_code == 409 and "serving" in refused.json()["detail"]
        gone = httpx.delete(f"{base}/versions/2", headers=AUTH)
        assert gone.status_code == 200 and gone.json()["state"] == "unloaded"
        assert httpx.post(f"{url}/predict", json={"instances": [ROW], "version": 2}).status_code == 404
        tf = {s["version"]: s["state"] for s in httpx.get(f"{url}/v1/models/ads").json()["model_version_status"]}
        assert tf == {"1": "AVAILABLE", "2": "END", "3": "AVAILABLE"}
        assert httpx.delete(f"{base}/versions/2", headers=AUTH).status_code == 200  # idempotent

        whole = httpx.get(f"{url}/admin/models", headers=AUTH).json()
        assert whole["version_policy"] == "specific"
        public = httpx.get(f"{url}/models").json()["models"][0]
        assert public["serving"] == 1 and "rollback_to" not in public


def test_unknown_names_versions_and_actions(three_versions):
    with serve(admin_settings(three_versions), loader=FakeLoader()) as server:
        base = f"{server.url}/admin/models"
        answer = httpx.post(f"{base}/nope/versions/1:load", headers=AUTH)
        assert answer.status_code == 404 and answer.json()["known"] == ["ads"] and "known models: ads" in answer.text
        answer = httpx.post(f"{base}/ads/versions/9:activate", headers=AUTH)
        assert answer.status_code == 404 and answer.json()["known"] == [1, 2, 3]
        assert httpx.delete(f"{base}/ads/versions/9", headers=AUTH).status_code == 404
        answer = httpx.post(f"{base}/ads/versions/1:explode", headers=AUTH)
        assert answer.status_code == 404 and "unknown action 'explode'" in answer.text
        answer = httpx.post(f"{base}/ads:explode", headers=AUTH)
        assert answer.status_code == 404 and "unknown action" in answer.text
        assert httpx.post(f"{base}/nope:rollback", headers=AUTH).status_code == 404
        assert listing(server.url)["serving"] == 3


def test_names_and_versions_that_could_escape_the_repository_are_refused(tmp_path):
    repo = tmp_path / "repo"
    write_fake_model(repo, "ads", 1)
    write_fake_model(tmp_path, "outside", 1)  # a valid bundle next to the repository
    with serve(admin_settings(repo), loader=FakeLoader()) as server:
        url = server.url
        long_name = "a" * 300
        for path in (
            "/admin/models/../versions/1:load",
            "/admin/models/%2e%2e/versions/1:load",
            "/admin/models/..%2Foutside/versions/1:load",
            "/admin/models/%2E%2E%2Foutside/versions/1:activate",
            "/admin/models/a..b/versions/1:load",
            f"/admin/models/{long_name}/versions/1:load",
            "/admin/models/ads/versions/..:load",
            "/admin/models/ads/versions/1%2F..%2F2:load",
            "/admin/models/ads/versions/-1:load",
            "/admin/models/ads/versions/0:activate",
            f"/admin/models/ads/versions/{'9' * 40}:load",
        ):
            status, body = raw_request(url, "POST", path, AUTH)
            assert status in (400, 404), (path, status, body)
            if status == 400:
                assert b"invalid" in body
            assert len(body) < 1000  # an absurd name is not echoed back whole
        for path in ("/v1/models/../outside:predict", "/v1/models/..%2Foutside/versions/1:predict",
                     "/v1/models/%2e%2e", f"/v1/models/{long_name}/metadata", "/v1/models/ads/versions/1x"):
            method = "POST" if path.endswith("predict") else "GET"
            status, body = raw_request(url, method, path)
            assert status in (400, 404), (path, status, body)
            assert b'"error"' in body
        assert [m["name"] for m in httpx.get(f"{url}/admin/models", headers=AUTH).json()["models"]] == ["ads"]
        answer = httpx.post(f"{url}/predict", json={"model": "../outside", "instances": [ROW]})
        assert answer.status_code == 422 and "invalid model name" in answer.text
        answer = httpx.post(f"{url}/v1/models/outside:predict", json={"instances": [ROW]})
        assert answer.status_code == 404 and "known models: ads" in answer.json()["error"]


def test_unload_waits_for_queued_requests_and_refuses_the_serving_version(three_versions):
    # one row per model call, 0.25 s each: concurrent requests wait in the queue
    config = admin_settings(three_versions, version_policy="specific", model_versions={"ads": 1},
                            max_batch_rows=1, batch_timeout_ms=0, request_timeout_ms=30_000)
    with serve(config, loader=FakeLoader(delay=0.25)) as server:
        url, base = server.url, f"{server.url}/admin/models/ads"
        assert httpx.post(f"{base}/versions/2:load", headers=AUTH, timeout=30).status_code == 200

        async def main():
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                async def one():
                    answer = await client.post("/predict", json={"instances": [ROW]})
                    return answer, time.monotonic()

                queued = [asyncio.create_task(one()) for _ in range(5)]
                while True:  # until the requests wait in version 1's queue
                    body = (await client.get("/admin/models", headers=AUTH)).json()
                    v1 = body["models"][0]["versions"][0]
                    if v1.get("queued_rows", 0) >= 3:
                        break
                    await asyncio.sleep(0.01)
                switched = await client.post("/admin/models/ads/versions/2:activate", headers=AUTH)
                assert switched.status_code == 200 and switched.json()["serving"] == 2
                unloading = asyncio.create_task(client.delete("/admin/models/ads/versions/1", headers=AUTH))
                seen = set()
                while not unloading.done():
                    body = (await client.get("/admin/models", headers=AUTH)).json()
                    seen.add(body["models"][0]["versions"][0]["state"])
                    await asyncio.sleep(0.02)
                unloaded = await unloading
                return [await q for q in queued], unloaded, time.monotonic(), seen

        answers, unloaded, unloaded_at, seen = asyncio.run(main())
        assert unloaded.status_code == 200 and unloaded.json()["state"] == "unloaded"
        assert "unloading" in seen
        for answer, finished in answers:
            assert answer.status_code == 200 and answer.json()["version"] == 1
            assert finished <= unloaded_at
        assert predict(url) == 2
        refused = httpx.delete(f"{base}/versions/2", headers=AUTH)
        assert refused.status_code == 409 and "is serving" in refused.json()["detail"]
        assert states(url) == {1: "unloaded", 2: "serving", 3: "unloaded"}


def test_canary_split_routes_by_weight_and_counts_per_version(three_versions):
    with serve(admin_settings(three_versions, model_versions={"ads": 1}, version_policy="specific"),
               loader=FakeLoader()) as server:
        url, base = server.url, f"{server.url}/admin/models/ads"
        assert httpx.post(f"{base}/versions/2:load", headers=AUTH).status_code == 200
        for bad, words in [
            ({"split": {"1": 90, "2": 5}}, "sum to 100"),
            ({"split": {"1": 110, "2": -10}}, "[0, 100]"),
            ({"split": {"1": True, "2": 99}}, "finite number"),
            ({"split": {"1": "90", "2": 10}}, "finite number"),
            ({"split": {"../1": 90, "2": 10}}, "invalid version"),
            ({"split": [1, 2]}, "object"),
            ({"weights": {"1": 100}}, "the body must be"),
        ]:
            answer = httpx.put(f"{base}/traffic", headers=AUTH, json=bad)
            assert answer.status_code == 422 and words in answer.json()["detail"], (bad, answer.text)
        answer = httpx.put(f"{base}/traffic", headers=AUTH, content=b'{"split": {"1": NaN, "2": 100}}')
        assert answer.status_code == 422
        answer = httpx.put(f"{base}/traffic", headers=AUTH, json={"split": {"1": 90, "9": 10}})
        assert answer.status_code == 404 and answer.json()["known"] == [1, 2, 3]
        answer = httpx.put(f"{base}/traffic", headers=AUTH, json={"split": {"1": 90, "3": 10}})
        assert answer.status_code == 409 and "load it first" in answer.json()["detail"]
        assert listing(url)["traffic"] is None

        answer = httpx.put(f"{base}/traffic", headers=AUTH, json={"split": {"1": 90, "2": 10}})
        assert answer.status_code == 200, answer.text
        assert answer.json()["traffic"] == {"1": 90.0, "2": 10.0} and answer.json()["serving"] == 1
        assert states(url) == {1: "serving", 2: "serving", 3: "unloaded"}
        refused = httpx.delete(f"{base}/versions/2", headers=AUTH)
        assert refused.status_code == 409 and "traffic split" in refused.json()["detail"]

        n = 1000

        async def main():
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                async def one(i):
                    if i % 2:
                        answer = await client.post("/predict", json={"instances": [ROW]})
                        return answer.status_code, answer.json()["version"]
                    answer = await client.post("/v1/models/ads:predict", json={"instances": [ROW]})
                    return answer.status_code, int(answer.json()["model_spec"]["version"])

                results = []
                for start in range(0, n, 50):
                    results += await asyncio.gather(*(one(i) for i in range(start, start + 50)))
                return results

        results = asyncio.run(main())
        assert {status for status, _ in results} == {200}
        to_canary = sum(1 for _, version in results if version == 2)
        assert {version for _, version in results} == {1, 2}
        tolerance = 4.5 * math.sqrt(n * 0.1 * 0.9)  # binomial standard deviations
        assert abs(to_canary - 0.1 * n) < tolerance, to_canary

        metrics = httpx.get(f"{url}/metrics").text
        per_version = {
            v: sum(metric_value(metrics, "ctrkit_requests_total", model="ads", version=str(v), endpoint=e, status="200")
                   for e in ("predict", "tf_predict"))
            for v in (1, 2)
        }
        assert per_version == {1: n - to_canary, 2: to_canary}
        assert metric_value(metrics, "ctrkit_traffic_percent", model="ads", version="2") == 10
        assert metric_value(metrics, "ctrkit_traffic_percent", model="ads", version="1") == 90
        assert metric_value(metrics, "ctrkit_model_versions", model="ads", version="2", state="serving") == 1

        assert predict(url, version=1) == 1  # naming a version bypasses the split
        back = httpx.post(f"{base}:rollback", headers=AUTH)  # drops the canary
        assert back.status_code == 200 and back.json()["traffic"] is None and back.json()["serving"] == 1
        assert states(url) == {1: "serving", 2: "ready", 3: "unloaded"}
        assert {predict(url) for _ in range(30)} == {1}
        promoted = httpx.put(f"{base}/traffic", headers=AUTH, json={"split": {"1": 0, "2": 100}})
        assert promoted.status_code == 200 and promoted.json()["serving"] == 2 and promoted.json()["traffic"] is None
        assert httpx.put(f"{base}/traffic", headers=AUTH, json={"split": {"1": 50, "2": 50}}).status_code == 200
        cleared = httpx.put(f"{base}/traffic", headers=AUTH, json={"split": None})
        assert cleared.json()["traffic"] is None and cleared.json()["serving"] == 2
        assert {predict(url) for _ in range(20)} == {2}
