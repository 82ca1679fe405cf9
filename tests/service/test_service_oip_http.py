"""The Open Inference Protocol over REST, driven by Triton's own client (tritonclient.http)."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from conftest import make_rows, reference_columns
from protocol_helpers import arrays_from_metadata, tensor_rows
from service_helpers import metric_value

httpclient = pytest.importorskip("tritonclient.http")
from tritonclient.utils import InferenceServerException  # noqa: E402


@pytest.fixture(scope="module")
def client(live):
    client = httpclient.InferenceServerClient(url=live.url.removeprefix("http://"), network_timeout=60)
    yield client
    client.close()


def inputs_for(client, model, rows, binary, version=""):
    metadata = client.get_model_metadata(model, version)
    arrays = arrays_from_metadata(rows, metadata["inputs"])
    datatypes = {m["name"]: m["datatype"] for m in metadata["inputs"]}
    inputs = []
    for name, array in arrays.items():
        item = httpclient.InferInput(name, list(array.shape), datatypes[name])
        item.set_data_from_numpy(array, binary_data=binary)
        inputs.append(item)
    return inputs


def test_health_and_metadata_describe_one_input_per_feature(client, deepfm_bundle):
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("deepfm") and client.is_model_ready("deepfm", "1")
    assert not client.is_model_ready("deepfm", "9")
    server = client.get_server_metadata()
    assert server["name"] == "ctrkit" and "binary_tensor_data" in server["extensions"]
    metadata = client.get_model_metadata("deepfm")
    assert metadata["name"] == "deepfm" and metadata["versions"] == ["1"]
    described = {m["name"]: (m["datatype"], m["shape"]) for m in metadata["inputs"]}
    assert set(described) == {f["name"] for f in deepfm_bundle.spec["features"]}
    assert described["C1"] == ("BYTES", [-1])
    assert described["user_id"] == ("INT32", [-1]) and described["item_id"] == ("INT64", [-1])
    assert described["emb"] == ("FP32", [-1, 3]) and described["genres"] == ("BYTES", [-1, 5])
    assert described["hist"] == ("INT32", [-1, 4]) and described["tags_w"] == ("FP32", [-1, 3])
    assert metadata["outputs"] == [{"name": "ctr", "datatype": "FP32", "shape": [-1]}]


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_scores_equal_the_bundles_own(client, deepfm_bundle, binary):
    rows = tensor_rows(make_rows(np.random.default_rng(21), 13))
    expected = deepfm_bundle.predict(reference_columns(rows))["ctr"]
    outputs = [httpclient.InferRequestedOutput("ctr", binary_data=binary)]
    result = client.infer("deepfm", inputs_for(client, "deepfm", rows, binary), outputs=outputs)
    np.testing.assert_allclose(result.as_numpy("ctr"), expected, atol=1e-5)
    response = result.get_response()
    assert response["model_name"] == "deepfm" and response["model_version"] == "1"
    named = client.infer("deepfm", inputs_for(client, "deepfm", rows, binary), model_version="1")
    np.testing.assert_allclose(named.as_numpy("ctr"), expected, atol=1e-5)


def test_multi_task_models_answer_one_output_per_task(client, model_repo):
    if not (model_repo / "mmoe").exists():
        pytest.skip("no multi-task model in this build")
    from ctrkit.export import load_bundle

    rows = tensor_rows(make_rows(np.random.default_rng(22), 5))
    expected = load_bundle(model_repo / "mmoe" / "1").predict(reference_columns(rows))
    result = client.infer("mmoe", inputs_for(client, "mmoe", rows, True))
    assert [o["name"] for o in result.get_response()["outputs"]] == ["ctr", "cvr"]
    for task in ("ctr", "cvr"):
        np.testing.assert_allclose(result.as_numpy(task), expected[task], atol=1e-5)


def test_invalid_values_are_400_naming_feature_and_row(client):
    rows = tensor_rows(make_rows(np.random.default_rng(23), 4))
    rows[2]["user_id"] = 120
    with pytest.raises(InferenceServerException) as caught:
        client.infer("deepfm", inputs_for(client, "deepfm", rows, True))
    assert caught.value.status() == "400"
    assert "row 2, feature 'user_id': id 120 is outside [0, 120)" in caught.value.message()
    bad = tensor_rows(make_rows(np.random.default_rng(24), 3))
    inputs = inputs_for(client, "deepfm", bad, True)
    c1 = next(i for i in inputs if i.name() == "C1")
    c1.set_data_from_numpy(np.array([b"ok", b"\xff", b"ok"], dtype=object), binary_data=True)
    with pytest.raises(InferenceServerException, match=r"row 1, feature 'C1': the string is not valid UTF-8"):
        client.infer("deepfm", inputs)
    # every string of one length, "\xc3\xa9" only across rows 0 and 1
    for item in inputs:
        if item.datatype() == "BYTES":
            item.set_data_from_numpy(np.full(item.shape(), b"zz", dtype=object), binary_data=True)
    c1.set_data_from_numpy(np.array([b"a\xc3", b"\xa9b", b"ok"], dtype=object), binary_data=True)
    with pytest.raises(InferenceServerException, match=r"row 0, feature 'C1': the string is not valid UTF-8"):
        client.infer("deepfm", inputs)


@pytest.mark.parametrize("model, version", [("nope", ""), ("deepfm", "7")])
def test_unknown_model_or_version_is_404(client, model, version):
    rows = tensor_rows(make_rows(np.random.default_rng(25), 1))
    inputs = inputs_for(client, "deepfm", rows, True)
    with pytest.raises(InferenceServerException) as caught:
        client.infer(model, inputs, model_version=version)
    assert caught.value.status() == "404"
    with pytest.raises(InferenceServerException) as caught:
        client.get_model_metadata(model, version)
    assert caught.value.status() == "404"


def test_malformed_binary_data_and_headers_are_400(live):
    url = f"{live.url}/v2/models/deepfm/infer"
    head = b'{"inputs": [{"name": "user_id", "datatype": "INT32", "shape": [2], "parameters": {"binary_data_size": 8}}]}'
    short = httpx.post(url, content=head + b"\x01\x00\x00\x00", headers={"Inference-Header-Content-Length": str(len(head))})
    assert short.status_code == 400 and "binary_data_size 8 does not fit" in short.json()["error"]
    wrong_size = httpx.post(url, content=head + b"\x00" * 12, headers={"Inference-Header-Content-Length": str(len(head))})
    assert wrong_size.status_code == 400 and "add up to 8" in wrong_size.json()["error"]
    not_json = httpx.post(url, content=b"[1, 2]")
    assert not_json.status_code == 400 and "invalid inference request" in not_json.json()["error"]


def test_requests_are_counted_under_their_own_endpoint(client, live):
    rows = tensor_rows(make_rows(np.random.default_rng(26), 2))
    client.infer("deepfm", inputs_for(client, "deepfm", rows, True))
    text = httpx.get(f"{live.url}/metrics").text
    assert metric_value(text, "ctrkit_requests_total", endpoint="oip_infer", status="200", model="deepfm") >= 1


def test_openapi_describes_the_infer_routes(live):
    paths = httpx.get(f"{live.url}/openapi.json").json()["paths"]
    for path in ("/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer"):
        operation = paths[path]["post"]
        assert set(operation["requestBody"]["content"]) == {"application/json", "application/octet-stream"}
        assert {"200", "400", "404", "503", "504"} <= set(operation["responses"])
    assert "/v2/models/{name}" in paths and "/v2/health/ready" in paths
