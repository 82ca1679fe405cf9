"""The model registry and the app around it, on fake bundles (no TensorFlow)."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pytest
from service_helpers import FakeLoader, fake_score, serve, settings, write_fake_model

import time

from service.errors import PayloadError
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
            decoded = old.decoder.decode_rows([ROW])
            old_columns = old.decoder.layout.unpack(decoded.packed)
            in_flight = asyncio.ensure_future(old.submit(decoded.packed, decoded.rows, time.monotonic() + 30))
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
            np.testing.assert_allclose(result["ctr"], fake_score(old_columns))
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


def test_rollback_walks_back_and_latest_keeps_only_recent_versions_loaded(tmp_path):
    write_fake_model(tmp_path, "ads", 1)
    loader = FakeLoader()

    async def main():
        registry = await started(make_registry(tmp_path, loader, retain_versions=2))
        try:
            for v in (2, 3):
                write_fake_model(tmp_path, "ads", v)
                await registry.poll_once()
            assert states(registry, "ads") == {
                1: VersionState.UNLOADED, 2: VersionState.READY, 3: VersionState.SERVING
            }
            assert (await registry.rollback("ads")).version == 2
            assert (await registry.rollback("ads")).version == 1  # loaded again on the way
            with pytest.raises(RegistryError, match="no previous version"):
                await registry.rollback("ads")
            await registry.poll_once()  # nothing new: the rollback stands
            assert registry.resolve("ads", None).version == 1
            write_fake_model(tmp_path, "ads", 4)
            await registry.poll_once()
            assert registry.resolve("ads", None).version == 4
            assert states(registry, "ads")[1] is VersionState.READY  # the rollback target stays warm
            assert states(registry, "ads")[2] is VersionState.UNLOADED
            assert states(registry, "ads")[3] is VersionState.UNLOADED
        finally:
            await registry.close()

    asyncio.run(main())


def test_failed_newest_version_is_tried_again_only_when_its_files_change(tmp_path):
    import json

    from service_helpers import fake_spec

    write_fake_model(tmp_path, "ads", 1)
    loader = FakeLoader()
    calls = []

    def counting(path):
        calls.append(path)
        return loader(path)

    async def main():
        registry = await started(make_registry(tmp_path, counting))
        try:
            (tmp_path / "ads" / "2").mkdir()  # files still being copied
            await registry.poll_once()
            await registry.poll_once()
            assert states(registry, "ads")[2] is VersionState.FAILED and len(calls) == 2
            assert "feature_spec.json" in registry.models["ads"].versions[2].error
            assert registry.resolve("ads", None).version == 1
            (tmp_path / "ads" / "2" / "feature_spec.json").write_text(json.dumps(fake_spec("ads", 2)))
            await registry.poll_once()
            assert registry.resolve("ads", None).version == 2 and len(calls) == 3
        finally:
            await registry.close()

    asyncio.run(main())


def test_versions_whose_directory_vanished_are_forgotten_unless_loaded(tmp_path):
    import shutil

    for v in (1, 2, 3):
        write_fake_model(tmp_path, "ads", v)

    async def main():
        registry = await started(make_registry(tmp_path, FakeLoader(), version_policy="specific"))
        try:
            await registry.load("ads", 2)
            for v in (1, 2, 3):
                shutil.rmtree(tmp_path / "ads" / str(v))
            await registry.poll_once()
            assert states(registry, "ads") == {2: VersionState.READY, 3: VersionState.SERVING}
            assert registry.resolve("ads", None).version == 3  # still in memory, still serving
        finally:
            await registry.close()

    asyncio.run(main())


def test_traffic_split_validation_in_the_registry(tmp_path):
    for v in (1, 2, 3):
        write_fake_model(tmp_path, "ads", v)

    async def main():
        registry = await started(make_registry(tmp_path, FakeLoader(), model_versions={"ads": 1}))
        try:
            await registry.load("ads", 2)
            with pytest.raises(RegistryError, match="load it first"):
                await registry.set_traffic("ads", {1: 50, 3: 50})
            with pytest.raises(ModelNotFound, match="known versions: 1, 2, 3"):
                await registry.set_traffic("ads", {1: 50, 8: 50})
            model = await registry.set_traffic("ads", {1: 20, 2: 80})
            assert model.serving.version == 2 and model.route.percents() == {1: 20.0, 2: 80.0}
            picks = [registry.resolve("ads", None).version for _ in range(2000)]
            assert 0.15 < picks.count(1) / 2000 < 0.25
            assert registry.models["ads"].rollback_target().version == 1
            await registry.set_traffic("ads", None)
            assert registry.models["ads"].route.percents() == {2: 100.0}
            assert states(registry, "ads")[1] is VersionState.READY
        finally:
            await registry.close()

    asyncio.run(main())


def test_folders_that_cannot_be_served_are_reported_once(tmp_path, caplog):
    write_fake_model(tmp_path, "ads", 1)
    (tmp_path / "3").mkdir()  # an export into the repository itself
    (tmp_path / "3" / "feature_spec.json").write_text("{}")
    (tmp_path / "bad name").mkdir()
    with caplog.at_level("WARNING", logger="service.registry"):
        with serve(settings(tmp_path, poll_interval_s=0.05), loader=FakeLoader()) as server:
            time.sleep(0.3)  # several polls
            assert httpx.get(f"{server.url}/readyz").status_code == 200
    warnings = [r.getMessage() for r in caplog.records if r.name == "service.registry"]
    misplaced = [w for w in warnings if "directly in the repository" in w]
    assert len(misplaced) == 1 and str(tmp_path / "3") in misplaced[0] and "<repository>/<model>/<version>/" in misplaced[0]
    assert len([w for w in warnings if "'bad name' is not a valid model name" in w]) == 1
