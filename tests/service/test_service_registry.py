"""The model registry and the app around it, on fake bundles (no TensorFlow)."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pytest
from service_helpers import FakeLoader, fake_score, serve, settings, write_fake_model

from service.codec import PayloadError
from service.metrics import ServiceMetrics
from service.registry import ModelNotFound, ModelRegistry, NotReady, RegistryError, VersionState

ROW = {"C1": "abc", "user_id": 5, "I1": 1.5, "genres": ["a", "bb"]}


def make_registry(repo, loader, **overrides):
    holder = {}
    metrics = ServiceMetrics(
        lambda: holder["r"].version_states(), lambda: holder["r"].queue_depths(), process=False
    )
    registry = holder["r"] = ModelRegistry(settings(repo, **overrides), metrics, loader)
    return registry


async def started(registry):
    registry.start()
    while not registry.initial_load_done:
        await asyncio.sleep(0.005)
    return registry


def states(registry, name):
    return {v: mv.state for v, mv in registry.models[name].versions.items()}


def test_latest_version_serves_and_a_broken_one_falls_back(tmp_path):
    for v in (1, 2, 3):
        write_fake_model(tmp_path, "ads", v)
    write_fake_model(tmp_path, "shop", 1)

    async def main():
        registry = await started(make_registry(tmp_path, FakeLoader(fail={"ads/3"})))
        try:
            assert states(registry, "ads") == {
                1: VersionState.UNLOADED, 2: VersionState.SERVING, 3: VersionState.FAILED
            }
            assert "cannot load ads/3" in registry.models["ads"].versions[3].error
            assert registry.resolve("ads", None).version == 2
            assert registry.resolve("shop", None).version == 1
            with pytest.raises(PayloadError, match="known models: ads, shop"):
                registry.resolve(None, None)
            with pytest.raises(ModelNotFound, match="known models: ads, shop"):
                registry.resolve("nope", None)
            with pytest.raises(ModelNotFound, match="loaded versions: 2"):
                registry.resolve("ads", 1)
            assert registry.ready()
        finally:
            await registry.close()

    asyncio.run(main())


def test_swap_is_atomic_and_in_flight_work_finishes_on_its_version(tmp_path):
    write_fake_model(tmp_path, "ads", 1)
    write_fake_model(tmp_path, "ads", 2)
    loader = FakeLoader(delay=0.2)

    async def main():
        registry = await started(make_registry(tmp_path, loader, model_versions={"ads": 1}))
        try:
            old = registry.resolve("ads", None)
            cols, n = old.codec.decode({"instances": [ROW]})
            in_flight = asyncio.ensure_future(old.batcher.submit(cols, n))
            await asyncio.sleep(0.05)
            new = await registry.activate("ads", 2)
            assert registry.resolve("ads", None) is new
            assert states(registry, "ads") == {1: VersionState.READY, 2: VersionState.SERVING}
            with pytest.raises(RegistryError, match="is serving"):
                await registry.unload("ads", 2)
            unloading = asyncio.ensure_future(registry.unload("ads", 1))
            result = await in_flight  # the batch started on version 1 finishes there
            await unloading
            assert loader.bundles["ads/1"].calls[-1] == 1
            np.testing.assert_allclose(result["ctr"], fake_score(cols))
            assert states(registry, "ads")[1] is VersionState.UNLOADED
            assert (await registry.rollback("ads")).version == 1  # loads it again
            assert registry.resolve("ads", None).version == 1
        finally:
            await registry.close()

    asyncio.run(main())


@pytest.mark.parametrize("policy, serves", [("latest", 2), ("specific", 1)])
def test_polling_follows_new_versions_only_under_latest(tmp_path, policy, serves):
    write_fake_model(tmp_path, "ads", 1)

    async def main():
        registry = await started(make_registry(tmp_path, FakeLoader(), version_policy=policy))
        try:
            write_fake_model(tmp_path, "ads", 2)
            await registry.poll_once()
            assert registry.resolve("ads", None).version == serves
            assert 2 in registry.models["ads"].versions
        finally:
            await registry.close()

    asyncio.run(main())


def test_no_version_yet_is_503_not_404(tmp_path):
    write_fake_model(tmp_path, "ads", 1)

    async def main():
        registry = make_registry(tmp_path, FakeLoader())
        registry._sync_discovered(registry.scan())
        with pytest.raises(NotReady):
            registry.resolve("ads", None)
        await registry.close()

    asyncio.run(main())


def test_http_answers_multi_output_and_single_model_default(tmp_path):
    write_fake_model(tmp_path, "mt", 1, outputs=("ctr", "cvr"))
    with serve(settings(tmp_path), loader=FakeLoader()) as server:
        rows = [ROW, {**ROW, "user_id": 9, "genres": []}]
        answer = httpx.post(f"{server.url}/predict", json={"instances": rows})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["model"] == "mt" and body["version"] == 1 and set(body["outputs"]) == {"ctr", "cvr"}
        cols = {"C1": np.array(["abc", "abc"], dtype=object), "user_id": np.array([5, 9]),
                "I1": np.array([1.5, 1.5]), "genres": np.array([["a", "bb", "", "", ""], [""] * 5], dtype=object),
                "genres_len": np.array([2, 0])}
        np.testing.assert_allclose(body["outputs"]["ctr"], fake_score(cols), atol=1e-6)
        np.testing.assert_allclose(body["outputs"]["cvr"], fake_score(cols) + 0.001, atol=1e-6)
        listing = httpx.get(f"{server.url}/models").json()
        assert listing["models"][0]["serving"] == 1
        assert listing["models"][0]["versions"][0]["outputs"] == ["ctr", "cvr"]
