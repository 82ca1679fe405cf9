"""TensorFlow Serving REST compatibility over real HTTP, with real exported models."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest
from conftest import make_rows, reference_columns


def columns_of(rows):
    names = dict.fromkeys(name for row in rows for name in row)
    return {name: [row.get(name) for row in rows] for name in names}


def tf_post(url, path, payload) -> httpx.Response:
    # what a TensorFlow Serving client sends: plain JSON, no extra fields
    return httpx.post(f"{url}/v1/models/{path}", content=json.dumps(payload),
                      headers={"Content-Type": "application/json"}, timeout=30)


@pytest.fixture(scope="module")
def mmoe(model_repo):
    if not (model_repo / "mmoe").exists():
        pytest.skip("no multi-task model in this build")
    from ctrkit.export import load_bundle

    return load_bundle(model_repo / "mmoe" / "1")


def test_single_output_row_and_column_forms(live, deepfm_bundle):
    rows = make_rows(np.random.default_rng(11), 9)
    expected = deepfm_bundle.predict(reference_columns(rows))["ctr"]
    for path in ("deepfm:predict", "deepfm/versions/1:predict"):
        by_rows = tf_post(live.url, path, {"signature_name": "serving_default", "instances": rows})
        assert by_rows.status_code == 200, by_rows.text
        body = by_rows.json()
        assert isinstance(body["predictions"], list) and all(isinstance(p, float) for p in body["predictions"])
        np.testing.assert_allclose(body["predictions"], expected, atol=1e-5)
        assert body["model_spec"] == {"name": "deepfm", "version": "1", "signature_name": "serving_default"}
        assert by_rows.headers["x-model-version"] == "1"
    by_columns = tf_post(live.url, "deepfm:predict", {"inputs": columns_of(rows)})
    assert by_columns.status_code == 200, by_columns.text
    outputs = by_columns.json()["outputs"]
    assert isinstance(outputs, list)
    np.testing.assert_allclose(outputs, expected, atol=1e-5)


def test_multi_output_row_and_column_forms(live, mmoe):
    rows = make_rows(np.random.default_rng(12), 6)
    expected = mmoe.predict(reference_columns(rows))
    by_rows = tf_post(live.url, "mmoe:predict", {"instances": rows})
    assert by_rows.status_code == 200, by_rows.text
    predictions = by_rows.json()["predictions"]
    assert len(predictions) == 6 and all(set(p) == {"ctr", "cvr"} for p in predictions)
    for task in ("ctr", "cvr"):
        np.testing.assert_allclose([p[task] for p in predictions], expected[task], atol=1e-5)
    by_columns = tf_post(live.url, "mmoe/versions/1:predict", {"inputs": columns_of(rows)})
    assert by_columns.status_code == 200, by_columns.text
    outputs = by_columns.json()["outputs"]
    assert set(outputs) == {"ctr", "cvr"}
    for task in ("ctr", "cvr"):
        np.testing.assert_allclose(outputs[task], expected[task], atol=1e-5)


@pytest.mark.parametrize(
    "path, payload, status, words",
    [
        ("nope:predict", {"instances": [{}]}, 404, "Servable not found for request: Latest(nope)"),
        ("deepfm/versions/7:predict", {"instances": [{}]}, 404, "Specific(deepfm, 7)"),
        ("deepfm:predict", {"signature_name": "classify", "instances": [{}]}, 400, "Serving signature name: 'classify'"),
        ("deepfm:predict", {"instances": [{"user_id": 1}]}, 400, "missing required feature"),
        ("deepfm:predict", {"instances": [{}], "inputs": {}}, 400, "exactly one"),
        ("deepfm:predict", {"examples": []}, 400, "unknown field"),
        ("deepfm/versions/x1:predict", {"instances": [{}]}, 400, "invalid version"),
        ("deepfm:classify", {"examples": []}, 501, "not served"),
    ],
)
def test_errors_use_the_error_key_and_tf_status_codes(live, path, payload, status, words):
    answer = tf_post(live.url, path, payload)
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error"} and words in body["error"]


def test_bad_value_names_feature_and_row(live):
    rows = make_rows(np.random.default_rng(13), 3)
    rows[1]["user_id"] = 120
    answer = tf_post(live.url, "deepfm:predict", {"instances": rows})
    assert answer.status_code == 400
    assert "row 1, feature 'user_id'" in answer.json()["error"]


def test_model_status(live):
    answer = httpx.get(f"{live.url}/v1/models/deepfm")
    assert answer.status_code == 200
    assert answer.json() == {
        "model_version_status": [
            {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
        ]
    }
    assert httpx.get(f"{live.url}/v1/models/deepfm/versions/1").json() == answer.json()
    missing = httpx.get(f"{live.url}/v1/models/deepfm/versions/5")
    assert missing.status_code == 404 and "Could not find version 5" in missing.json()["error"]
    unknown = httpx.get(f"{live.url}/v1/models/nope")
    assert unknown.status_code == 404 and "known models: deepfm" in unknown.json()["error"]


def test_model_metadata(live, deepfm_bundle):
    for path in ("deepfm/metadata", "deepfm/versions/1/metadata"):
        answer = httpx.get(f"{live.url}/v1/models/{path}")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["model_spec"] == {"name": "deepfm", "signature_name": "", "version": "1"}
        signatures = body["metadata"]["signature_def"]["signature_def"]
        default = signatures["serving_default"]
        assert default["method_name"] == "tensorflow/serving/predict"
        assert set(default["inputs"]) == {f["name"] for f in deepfm_bundle.spec["features"]}
        assert default["inputs"]["user_id"]["dtype"] == "DT_INT32"
        assert default["inputs"]["C1"]["dtype"] == "DT_STRING"
        assert default["inputs"]["genres"]["tensor_shape"]["dim"] == [{"size": "-1", "name": ""}, {"size": "5", "name": ""}]
        assert default["outputs"]["ctr"]["dtype"] == "DT_FLOAT"
        assert "serving_packed" in signatures
        assert body["metadata"]["feature_spec"] == deepfm_bundle.spec
    assert httpx.get(f"{live.url}/v1/models/deepfm/versions/3/metadata").status_code == 404
