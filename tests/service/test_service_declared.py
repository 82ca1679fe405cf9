"""The declared state in the repository (``<model>/serving.json``): its file, its targets, and processes following it.

The servers here run in threads on fake bundles; two of them sharing one
repository stand for two processes (``tests/test_fleet.py`` runs real ones).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

import httpx
import pytest
from service_helpers import TOKEN, FakeLoader, admin_headers, metric_value, serve, settings, write_fake_model

from service import declared
from service.declared import DeclaredState, MalformedState
from service.settings import VersionPolicy
from service.targets import default_state, resolve

AUTH = admin_headers()
ROW = {"C1": "abc", "user_id": 5, "I1": 1.5, "genres": ["a"]}
POLL = 0.1


def fleet_settings(repo: Path, **overrides):
    return settings(repo, **{"admin_token": TOKEN, "poll_interval_s": POLL, **overrides})


def model(url: str) -> dict:
    answer = httpx.get(f"{url}/admin/models", headers=AUTH)
    assert answer.status_code == 200, answer.text
    return answer.json()["models"][0]


def eventually(url: str, check, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        found = model(url)
        if check(found):
            return found
        assert time.monotonic() < deadline, found
        time.sleep(0.02)


def on_disk(repo: Path) -> dict:
    return json.loads((repo / "ads" / declared.FILE_NAME).read_text())


def loaded(found: dict) -> set[int]:
    return {v["version"] for v in found["versions"] if v["state"] in ("ready", "serving")}


# -- the file ---------------------------------------------------------------------------

@pytest.mark.parametrize("content, words", [
    (b'{"generation": 1, "serving": ', "not valid JSON"),
    (b'{"generation": 1, "serving": 2, "colour": "red"}', "colour: Extra inputs are not permitted"),
    (b'{"generation": 1, "serving": 0}', "positive integer"),
    (b'{"generation": 1, "serving": "newest"}', "serving"),
    (b'{"generation": 1, "serving": 2, "split": {"1": 50, "2": 40}}', "sum to 90"),
    (b'{"generation": 1, "serving": 3, "split": {"1": 50, "2": 50}}', "not in the split"),
    (b'{"generation": 1, "serving": "latest", "split": {"1": 50, "2": 50}}', '"latest"'),
    (b'{"generation": 1, "serving": 2, "split": {"2": 100}}', "2 to 16 versions"),
    (b'{"format": 2, "generation": 1, "serving": 2}', "format 2"),
    (b'[1, 2]', "file"),
])
def test_a_malformed_file_says_what_is_wrong(tmp_path, content, words):
    (tmp_path / declared.FILE_NAME).write_bytes(content)
    with pytest.raises(MalformedState) as info:
        declared.read(tmp_path)
    assert words in info.value.message and str(tmp_path) in info.value.message


def test_a_file_round_trips_and_a_hand_written_one_reads():
    assert declared.read(Path("/nonexistent")) is None
    state = DeclaredState(generation=4, serving=2, split={1: 10, 2: 90}, keep_loaded=[3, 1, 3], history=[1],
                          latest_seen=3)
    assert state.keep_loaded == [1, 3] and state.members() == [1, 2]
    assert DeclaredState.model_validate_json(declared.render(state)) == state
    assert json.loads(declared.render(state))["split"] == {"1": 10.0, "2": 90.0}
    by_hand = DeclaredState.model_validate_json('{"generation": 1, "serving": "latest"}')
    assert by_hand.latest_seen is None and by_hand.members() == []


def test_updates_are_atomic_numbered_and_never_lost(tmp_path):
    def add(version):
        def change(current):
            base = current or DeclaredState(generation=0, serving=1)
            return base.model_copy(update={"keep_loaded": [*base.keep_loaded, version]})
        return change

    threads = [threading.Thread(target=lambda t=t: [declared.update(tmp_path, add(t * 100 + i)) for i in range(1, 11)])
               for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = declared.read(tmp_path)
    assert final.generation == 40 and len(final.keep_loaded) == 40
    assert final.written_by.endswith(f":{os.getpid()}") and final.written_at.endswith("Z")
    assert sorted(p.name for p in tmp_path.iterdir()) == [declared.LOCK_NAME, declared.FILE_NAME]

    def refuse(current):
        raise ValueError("no")

    before = (tmp_path / declared.FILE_NAME).read_bytes()
    with pytest.raises(ValueError):
        declared.update(tmp_path, refuse)
    assert (tmp_path / declared.FILE_NAME).read_bytes() == before
    (tmp_path / declared.FILE_NAME).write_text("{broken")  # a malformed file: the last good state continues
    written = declared.update(tmp_path, lambda current: current, fallback=final)
    assert written.generation == 41 and written.keep_loaded == final.keep_loaded


# -- the target of a model ----------------------------------------------------------------

LATEST, SPECIFIC = VersionPolicy.LATEST, VersionPolicy.SPECIFIC


def test_targets_under_each_policy():
    pin = DeclaredState(generation=2, serving=2, history=[1], keep_loaded=[1, 2], latest_seen=3)
    # a pin holds while nothing newer than latest_seen loads...
    t = resolve(pin, [1, 2, 3], set(), LATEST, (3, ()), 2)
    assert (t.primary, t.split, t.history, t.hold, t.blocked) == (2, (), (1,), {1, 2}, None)
    # ...a newer version replaces it under `latest` (the pin becomes the rollback target), not under `specific`
    t = resolve(pin, [1, 2, 3, 4, 5], set(), LATEST, (2, ()), 2)
    assert (t.primary, t.history, t.hold, t.following_latest, t.rollback_target()) == (5, (1, 2, 4), {4, 5}, True, 4)
    assert resolve(pin, [1, 2, 3, 4], set(), SPECIFIC, (2, ()), 2).primary == 2
    # a newer version that failed to load does not count
    assert resolve(pin, [1, 2, 3, 4], {4}, LATEST, (2, ()), 2).primary == 2
    # "latest" follows the newest version that loads
    latest = DeclaredState(generation=1, serving="latest", latest_seen=3, keep_loaded=[1, 3])
    t = resolve(latest, [1, 2, 3], {3}, SPECIFIC, None, 2)
    assert (t.primary, t.hold) == (2, {1, 2, 3})
    # once written, "latest" holds what it declares and nothing more (an unloaded version stays unloaded)...
    written = DeclaredState(generation=4, serving="latest", latest_seen=3, keep_loaded=[3], history=[1, 2])
    assert resolve(written, [1, 2, 3], set(), LATEST, (3, ()), 2).hold == {3}
    # ...until a newer version takes over: then the one before it may stay loaded for a rollback
    t = resolve(written, [1, 2, 3, 4], set(), LATEST, (3, ()), 2)
    assert (t.primary, t.history, t.keep, t.retain) == (4, (1, 2, 3), set(), {3})
    # a split
    split = DeclaredState(generation=3, serving=2, split={1: 10, 2: 90}, history=[1], latest_seen=2)
    t = resolve(split, [1, 2], set(), LATEST, None, 2)
    assert (t.primary, t.split, t.members, t.rollback_target()) == (2, ((1, 10.0), (2, 90.0)), (1, 2), 1)
    # a declared version that cannot be served here blocks: the route stays, or the newest version serves
    t = resolve(pin, [1, 2, 3], {2}, LATEST, (3, ()), 2)
    assert (t.primary, t.blocked) == (3, "declared version 2 failed to load here")
    t = resolve(pin.model_copy(update={"serving": 7}), [1, 2, 3], set(), LATEST, None, 2)
    assert (t.primary, t.blocked) == (3, "declared version 7 is not in the repository")
    # a hand-written pin (no latest_seen) holds whatever appears
    assert resolve(DeclaredState(generation=1, serving=1), [1, 2, 3], set(), LATEST, None, 2).primary == 1


def test_without_a_file_the_version_policy_and_start_up_pins_apply():
    follow = default_state(LATEST, None, [1, 2, 3])
    t = resolve(follow, [1, 2, 3], set(), LATEST, None, 2)
    assert (follow.generation, t.primary, t.history, t.hold) == (0, 3, (1, 2), {2, 3})
    pinned = default_state(LATEST, 1, [1, 2, 3])
    assert resolve(pinned, [1, 2, 3], set(), LATEST, None, 2).primary == 1
    assert resolve(pinned, [1, 2, 3, 4], set(), LATEST, None, 2).primary == 4  # until a new version appears
    held = default_state(SPECIFIC, None, [1, 2])
    assert resolve(held, [1, 2, 3], set(), SPECIFIC, None, 2).primary == 2


# -- processes following the repository ---------------------------------------------------

@pytest.fixture()
def three_versions(tmp_path):
    for v in (1, 2, 3):
        write_fake_model(tmp_path, "ads", v)
    return tmp_path


def test_admin_calls_through_one_process_reach_another(three_versions):
    repo = three_versions
    with serve(fleet_settings(repo), loader=FakeLoader()) as a, serve(fleet_settings(repo), loader=FakeLoader()) as b:
        assert model(a.url)["serving"] == model(b.url)["serving"] == 3  # no file yet: the latest policy
        assert model(a.url)["declared"] is None and model(a.url)["applied_generation"] == 0

        def same(check):
            """Both processes show ``check``, at the generation on disk, converged."""
            generation = on_disk(repo)["generation"]
            for url in (a.url, b.url):
                eventually(url, lambda m: m["applied_generation"] == generation and m["converged"] and check(m))

        answer = httpx.post(f"{a.url}/admin/models/ads/versions/1:activate", headers=AUTH)
        assert answer.status_code == 200 and answer.json()["serving"] == 1 and answer.json()["converged"]
        assert on_disk(repo) | {"written_at": None, "written_by": None} == {
            "format": 1, "generation": 1, "serving": 1, "split": None, "keep_loaded": [1, 2, 3], "history": [1, 2, 3],
            "latest_seen": 3, "written_at": None, "written_by": None,
        }
        same(lambda m: m["serving"] == 1 and m["rollback_to"] == 3)

        answer = httpx.put(f"{b.url}/admin/models/ads/traffic", headers=AUTH, json={"split": {"1": 90, "2": 10}})
        assert answer.status_code == 200, answer.text
        same(lambda m: m["traffic"] == {"1": 90.0, "2": 10.0} and m["serving"] == 1)

        assert httpx.post(f"{a.url}/admin/models/ads:rollback", headers=AUTH).json()["serving"] == 1
        same(lambda m: m["traffic"] is None and m["serving"] == 1)

        answer = httpx.delete(f"{b.url}/admin/models/ads/versions/2", headers=AUTH)
        assert answer.status_code == 200 and answer.json()["declared_generation"] == on_disk(repo)["generation"]
        same(lambda m: loaded(m) == {1, 3})
        refused = httpx.delete(f"{a.url}/admin/models/ads/versions/1", headers=AUTH)
        assert refused.status_code == 409 and on_disk(repo)["generation"] == 4

        answer = httpx.post(f"{a.url}/admin/models/ads/versions/latest:activate", headers=AUTH)
        assert answer.status_code == 200 and answer.json()["following_latest"] and answer.json()["serving"] == 3
        same(lambda m: m["serving"] == 3 and m["following_latest"])
        write_fake_model(repo, "ads", 4)
        same(lambda m: m["serving"] == 4)
        for url in (a.url, b.url):
            metrics = httpx.get(f"{url}/metrics").text
            assert metric_value(metrics, "ctrkit_declared_state_generation", model="ads") == 5
            assert metric_value(metrics, "ctrkit_applied_state_generation", model="ads") == 5
            assert metric_value(metrics, "ctrkit_declared_state_malformed", model="ads") == 0


def test_a_restarted_process_comes_back_to_the_declared_state_not_to_the_latest(three_versions):
    repo = three_versions
    with serve(fleet_settings(repo), loader=FakeLoader()) as server:
        assert httpx.post(f"{server.url}/admin/models/ads/versions/2:activate", headers=AUTH).status_code == 200
        assert httpx.post(f"{server.url}/predict", json={"instances": [ROW]}).json()["version"] == 2
    with serve(fleet_settings(repo), loader=FakeLoader()) as server:
        found = eventually(server.url, lambda m: m["converged"])
        assert found["serving"] == 2 and found["applied_generation"] == 1 and found["rollback_to"] == 3
        assert {httpx.post(f"{server.url}/predict", json={"instances": [ROW]}).json()["version"] for _ in range(5)} == {2}
        (repo / "ads" / declared.FILE_NAME).unlink()  # no declared state: the latest policy again
        found = eventually(server.url, lambda m: m["serving"] == 3)
        assert found["declared"] is None and found["applied_generation"] == 0


def test_a_hand_written_file_pins_until_it_says_latest(three_versions):
    repo = three_versions
    (repo / "ads" / declared.FILE_NAME).write_text('{"generation": 5, "serving": 1}')
    with serve(fleet_settings(repo), loader=FakeLoader()) as server:
        assert eventually(server.url, lambda m: m["converged"])["serving"] == 1
        write_fake_model(repo, "ads", 4)
        time.sleep(5 * POLL)
        assert model(server.url)["serving"] == 1 and model(server.url)["applied_generation"] == 5
        (repo / "ads" / "next").write_text('{"generation": 6, "serving": "latest"}')
        os.replace(repo / "ads" / "next", repo / "ads" / declared.FILE_NAME)
        assert eventually(server.url, lambda m: m["applied_generation"] == 6)["serving"] == 4


def test_a_malformed_file_is_reported_once_and_the_last_good_state_kept(three_versions, caplog):
    repo = three_versions
    path = repo / "ads" / declared.FILE_NAME
    with caplog.at_level(logging.INFO, logger="service.registry"):
        with serve(fleet_settings(repo), loader=FakeLoader()) as server:
            assert httpx.post(f"{server.url}/admin/models/ads/versions/1:activate", headers=AUTH).status_code == 200
            path.write_text('{"generation": 9, "serving": ')
            found = eventually(server.url, lambda m: m["declared_error"] is not None)
            assert "not valid JSON" in found["declared_error"] and str(path) in found["declared_error"]
            assert found["serving"] == 1 and found["declared"]["generation"] == 1 and found["converged"]
            time.sleep(5 * POLL)
            metrics = httpx.get(f"{server.url}/metrics").text
            assert metric_value(metrics, "ctrkit_declared_state_malformed", model="ads") == 1
            assert metric_value(metrics, "ctrkit_applied_state_generation", model="ads") == 1
            reports = [r for r in caplog.records if "malformed declared state" in r.getMessage()]
            assert len(reports) == 1 and reports[0].levelno == logging.ERROR and "keeping generation 1" in \
                reports[0].getMessage()
            path.write_text('{"generation": 9, "serving": 2, "split": {"2": 50, "3": 40}}')
            assert "sum to 90" in eventually(server.url, lambda m: "sum" in (m["declared_error"] or ""))[
                "declared_error"]
            # an admin call writes a good file again, numbered after the last good one
            answer = httpx.post(f"{server.url}/admin/models/ads/versions/3:activate", headers=AUTH)
            assert answer.status_code == 200 and answer.json()["declared_error"] is None
            assert on_disk(repo)["generation"] == 2 and on_disk(repo)["serving"] == 3
            metrics = httpx.get(f"{server.url}/metrics").text
            assert metric_value(metrics, "ctrkit_declared_state_malformed", model="ads") == 0


def test_a_declared_version_that_fails_here_is_reported_and_nothing_moves(three_versions):
    repo = three_versions
    writer, broken = FakeLoader(), FakeLoader(fail={"ads/2"})
    with serve(fleet_settings(repo), loader=writer) as a, serve(fleet_settings(repo), loader=broken) as b:
        assert httpx.post(f"{a.url}/admin/models/ads/versions/2:activate", headers=AUTH).status_code == 200
        found = eventually(b.url, lambda m: m["blocked"] is not None)
        assert found["blocked"] == "declared version 2 failed to load here" and not found["converged"]
        assert found["serving"] == 3 and found["applied_generation"] == 0
        # the process that cannot load it refuses to declare it in the first place
        refused = httpx.post(f"{b.url}/admin/models/ads/versions/2:activate", headers=AUTH)
        assert refused.status_code == 422 and on_disk(repo)["generation"] == 1


def test_where_the_declared_state_cannot_be_written_admin_calls_get_503(three_versions):
    repo = three_versions
    (repo / "ads" / declared.LOCK_NAME).mkdir()  # stands for a read-only repository (root ignores permissions)
    with serve(fleet_settings(repo), loader=FakeLoader()) as server:
        answer = httpx.post(f"{server.url}/admin/models/ads/versions/1:activate", headers=AUTH)
        assert answer.status_code == 503, answer.text
        assert "cannot write the declared state" in answer.json()["detail"]
        assert "a process that can write the model repository" in answer.json()["detail"]
        assert model(server.url)["serving"] == 3 and not (repo / "ads" / declared.FILE_NAME).exists()


def test_a_version_loaded_for_an_admin_call_stays_loaded_while_it_is_declared(three_versions):
    loads = []
    loader = FakeLoader(delay=0.05)  # a load of a few warm-up calls: the poller runs many times meanwhile

    def counting(path):
        loads.append(Path(path).name)
        return loader(path)

    config = fleet_settings(three_versions, poll_interval_s=0.01, model_versions={"ads": 1})
    with serve(config, loader=counting) as server:
        for version in (2, 3):
            answer = httpx.post(f"{server.url}/admin/models/ads/versions/{version}:activate", headers=AUTH)
            assert answer.status_code == 200 and answer.json()["serving"] == version
        assert loads == ["1", "2", "3"]  # each loaded once: the poller never unloaded one before it was declared
