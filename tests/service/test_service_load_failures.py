"""Broken versions never replace the serving one; they are reported as failed with their error."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time

import httpx
import numpy as np
from conftest import make_rows
from service_helpers import TOKEN, admin_headers, metric_value, serve, settings

AUTH = admin_headers()


def place(repo, version, build):
    """Builds a version directory under a temporary name, then renames it into place."""
    staging = repo / f".staging-{version}"
    build(staging)
    os.rename(staging, repo / str(version))


def wait_for_state(url, version, wanted, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        model = httpx.get(f"{url}/admin/models", headers=AUTH).json()["models"][0]
        found = {v["version"]: v for v in model["versions"]}
        if version in found and found[version]["state"] == wanted:
            return model, found[version]
        assert time.monotonic() < deadline, (version, wanted, found)
        time.sleep(0.05)


class Traffic:
    """A client thread predicting in a loop; counts answers by status and version."""

    def __init__(self, url, rows):
        self.url, self.rows = url, rows
        self.answers: list[tuple[int, int | None]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self.stop.is_set():
                answer = client.post("/predict", json={"instances": self.rows})
                version = answer.json().get("version") if answer.status_code == 200 else None
                self.answers.append((answer.status_code, version))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(30)


def test_broken_versions_are_reported_and_never_serve(model_repo, tmp_path):
    good = model_repo / "deepfm" / "1"
    repo = tmp_path / "ads"
    shutil.copytree(good, repo / "1")
    spec = json.loads((good / "feature_spec.json").read_text())

    def garbage_graph(path):  # a corrupt SavedModel
        shutil.copytree(good, path)
        (path / "saved_model.pb").write_bytes(b"\x08\x01garbage, not a protocol buffer" * 50)

    def renamed_feature(path):  # the spec names a feature the signature does not take
        shutil.copytree(good, path)
        changed = json.loads(json.dumps(spec))
        changed["features"][0]["name"] = "renamed"
        (path / "feature_spec.json").write_text(json.dumps(changed))

    def longer_lists(path):  # the spec pads a list to a length the signature refuses
        shutil.copytree(good, path)
        changed = json.loads(json.dumps(spec))
        for feature in changed["features"]:
            if feature["name"] == "genres":
                feature["maxlen"] = 7
        (path / "feature_spec.json").write_text(json.dumps(changed))

    def spec_only(path):  # files missing
        path.mkdir()
        shutil.copy(good / "feature_spec.json", path / "feature_spec.json")

    config = settings(tmp_path, admin_token=TOKEN, poll_interval_s=0.2, request_timeout_ms=30_000)
    rows = make_rows(np.random.default_rng(21), 3)
    with serve(config) as server, Traffic(server.url, rows) as traffic:
        url = server.url
        expected_errors = {4: "", 5: "disagree", 6: "genres", 7: "saved_model"}
        for version, build in ((4, garbage_graph), (5, renamed_feature), (6, longer_lists), (7, spec_only)):
            place(repo, version, build)
            model, entry = wait_for_state(url, version, "failed")
            assert model["serving"] == 1
            assert expected_errors[version] in entry["error"], entry["error"]
            assert entry["error_code"] in ("UNKNOWN", "INVALID_ARGUMENT", "NOT_FOUND")

        public = httpx.get(f"{url}/models").json()["models"][0]
        assert public["serving"] == 1
        assert {v["version"]: v["state"] for v in public["versions"]} == {
            1: "serving", 4: "failed", 5: "failed", 6: "failed", 7: "failed"
        }
        assert all(v["error"].startswith("the version failed to load (")
                   for v in public["versions"] if v["state"] == "failed")
        tf_status = httpx.get(f"{url}/v1/models/ads")
        status = {s["version"]: s for s in tf_status.json()["model_version_status"]}
        assert status["1"]["state"] == "AVAILABLE" and status["1"]["status"]["error_code"] == "OK"
        assert status["5"]["state"] == "END" and "(ValueError)" in status["5"]["status"]["error_message"]
        # the public routes show no file of the server and no load error's text; the admin routes do
        for route in ("/models", "/v1/models/ads", "/v1/models/ads/versions/7", "/readyz"):
            text = httpx.get(f"{url}{route}").text
            assert str(tmp_path) not in text and "saved_model" not in text and "disagree" not in text, route
        assert str(tmp_path) in httpx.get(f"{url}/admin/models", headers=AUTH).text
        assert status["5"]["status"]["error_code"] == "INVALID_ARGUMENT"
        metrics = httpx.get(f"{url}/metrics").text
        for version in (4, 5, 6, 7):
            assert metric_value(metrics, "ctrkit_model_versions", model="ads", version=str(version), state="failed") == 1
        assert metric_value(metrics, "ctrkit_model_loads_total", model="ads", result="failed") == 4
        assert metric_value(metrics, "ctrkit_model_versions", model="ads", version="1", state="serving") == 1

        # asked for explicitly, a broken version still fails and changes nothing
        answer = httpx.post(f"{url}/admin/models/ads/versions/4:activate", headers=AUTH, timeout=60)
        assert answer.status_code == 422 and answer.json()["state"] == "failed"
        assert "failed to load" in answer.json()["detail"]
        assert httpx.post(f"{url}/admin/models/ads/versions/5:load", headers=AUTH, timeout=60).status_code == 422
        answer = httpx.put(f"{url}/admin/models/ads/traffic", headers=AUTH, json={"split": {"1": 50, "6": 50}})
        assert answer.status_code == 409
        assert httpx.post(f"{url}/predict", json={"version": 4, "instances": rows}).status_code == 404

        # the newest version's files arrive: the poller tries it again and it serves
        for item in good.iterdir():
            if item.name != "feature_spec.json":
                (shutil.copytree if item.is_dir() else shutil.copy)(item, repo / "7" / item.name)
        model, _ = wait_for_state(url, 7, "serving")
        assert model["serving"] == 7
        deadline = time.monotonic() + 30
        while traffic.answers[-1][1] != 7:
            assert time.monotonic() < deadline
            time.sleep(0.02)

    statuses = {status for status, _ in traffic.answers}
    assert statuses == {200}, statuses
    served = [version for _, version in traffic.answers]
    assert set(served) == {1, 7}
    first_seven = served.index(7)
    assert set(served[first_seven:]) == {7}  # once 7 answered, 1 never did again
