"""The gRPC APIs with the real clients: TensorFlow Serving's own stubs and Triton's tritonclient.grpc."""

from __future__ import annotations

import grpc
import httpx
import numpy as np
import pytest
from conftest import make_rows, reference_columns
from protocol_helpers import arrays_from_metadata, tensor_rows
from service_helpers import free_port, metric_value, serve, settings, wait_until_serving

tfs = pytest.importorskip("tensorflow_serving.apis.prediction_service_pb2_grpc")
from tensorflow_serving.apis import (  # noqa: E402
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
)

grpcclient = pytest.importorskip("tritonclient.grpc")
from tritonclient.grpc import service_pb2, service_pb2_grpc  # noqa: E402
from tritonclient.utils import InferenceServerException  # noqa: E402

TF_TYPES = {"DT_STRING": "BYTES", "DT_INT32": "INT32", "DT_INT64": "INT64", "DT_FLOAT": "FP32"}


@pytest.fixture(scope="module")
def server(model_repo):
    port = free_port()
    with serve(settings(model_repo, grpc_port=port)) as live:
        wait_until_serving(live.url, [p.name for p in model_repo.iterdir() if p.is_dir()])
        live.grpc = f"127.0.0.1:{port}"
        yield live


@pytest.fixture(scope="module")
def channel(server):
    with grpc.insecure_channel(server.grpc) as channel:
        yield channel


@pytest.fixture(scope="module")
def triton(server):
    client = grpcclient.InferenceServerClient(url=server.grpc)
    yield client
    client.close()


def tf_metadata(channel, model, version=None):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = model
    if version is not None:
        request.model_spec.version.value = version
    answer = tfs.PredictionServiceStub(channel).GetModelMetadata(request, timeout=30)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    answer.metadata["signature_def"].Unpack(signatures)
    return answer, signatures.signature_def["serving_default"]


def tf_request(channel, model, rows, version=None):
    """A PredictRequest built from GetModelMetadata alone, its tensors made by tf.make_tensor_proto."""
    import tensorflow as tf
    from tensorflow.core.framework import types_pb2

    _, signature = tf_metadata(channel, model)
    inputs = [{"name": name, "datatype": TF_TYPES[types_pb2.DataType.Name(info.dtype)],
               "shape": [d.size for d in info.tensor_shape.dim]} for name, info in signature.inputs.items()]
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    if version is not None:
        request.model_spec.version.value = version
    for name, array in arrays_from_metadata(rows, inputs).items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(array))
    return request


def test_tf_predict_scores_equal_the_bundles_own(channel, deepfm_bundle):
    import tensorflow as tf

    rows = tensor_rows(make_rows(np.random.default_rng(31), 11))
    expected = deepfm_bundle.predict(reference_columns(rows))["ctr"]
    stub = tfs.PredictionServiceStub(channel)
    for version in (None, 1):
        answer = stub.Predict(tf_request(channel, "deepfm", rows, version), timeout=30)
        np.testing.assert_allclose(tf.make_ndarray(answer.outputs["ctr"]), expected, atol=1e-5)
        assert answer.model_spec.name == "deepfm" and answer.model_spec.version.value == 1
        assert answer.model_spec.signature_name == "serving_default"


def test_tf_predict_answers_one_output_per_task(channel, model_repo):
    if not (model_repo / "mmoe").exists():
        pytest.skip("no multi-task model in this build")
    import tensorflow as tf

    from ctrkit.export import load_bundle

    rows = tensor_rows(make_rows(np.random.default_rng(32), 4))
    expected = load_bundle(model_repo / "mmoe" / "1").predict(reference_columns(rows))
    stub = tfs.PredictionServiceStub(channel)
    answer = stub.Predict(tf_request(channel, "mmoe", rows), timeout=30)
    assert set(answer.outputs) == {"ctr", "cvr"}
    for task in ("ctr", "cvr"):
        np.testing.assert_allclose(tf.make_ndarray(answer.outputs[task]), expected[task], atol=1e-5)
    only = tf_request(channel, "mmoe", rows)
    only.output_filter.append("cvr")
    assert set(stub.Predict(only, timeout=30).outputs) == {"cvr"}


def test_tf_invalid_inputs_are_invalid_argument_naming_feature_and_row(channel):
    import tensorflow as tf

    rows = tensor_rows(make_rows(np.random.default_rng(33), 5))
    request = tf_request(channel, "deepfm", rows)
    request.inputs["I1"].CopyFrom(tf.make_tensor_proto(np.array([0, 1, 2, np.inf, 4], dtype=np.float32)))
    with pytest.raises(grpc.RpcError) as caught:
        tfs.PredictionServiceStub(channel).Predict(request, timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "row 3, feature 'I1': value inf is not a finite number" in caught.value.details()
    del request.inputs["user_id"]
    with pytest.raises(grpc.RpcError, match="feature 'user_id': missing required feature"):
        tfs.PredictionServiceStub(channel).Predict(request, timeout=30)


@pytest.mark.parametrize("model, version", [("nope", None), ("deepfm", 7)])
def test_tf_unknown_model_or_version_is_not_found(channel, model, version):
    rows = tensor_rows(make_rows(np.random.default_rng(34), 1))
    request = tf_request(channel, "deepfm", rows)
    request.model_spec.name = model
    if version is not None:
        request.model_spec.version.value = version
    with pytest.raises(grpc.RpcError) as caught:
        tfs.PredictionServiceStub(channel).Predict(request, timeout=30)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "Servable not found for request" in caught.value.details()
    with pytest.raises(grpc.RpcError) as caught:
        tf_metadata(channel, model, version)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_tf_metadata_describes_the_inputs_predict_takes(channel, deepfm_bundle):
    from tensorflow.core.framework import types_pb2

    answer, signature = tf_metadata(channel, "deepfm")
    assert answer.model_spec.name == "deepfm" and answer.model_spec.version.value == 1
    assert set(signature.inputs) == {f["name"] for f in deepfm_bundle.spec["features"]}
    described = {name: (types_pb2.DataType.Name(info.dtype), [d.size for d in info.tensor_shape.dim])
                 for name, info in signature.inputs.items()}
    assert described["C1"] == ("DT_STRING", [-1]) and described["hist"] == ("DT_INT32", [-1, 4])
    assert described["emb"] == ("DT_FLOAT", [-1, 3]) and described["item_id"] == ("DT_INT64", [-1])
    assert list(signature.outputs) == ["ctr"]


def test_tf_model_status(channel):
    stub = model_service_pb2_grpc.ModelServiceStub(channel)
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "deepfm"
    [status] = stub.GetModelStatus(request, timeout=30).model_version_status
    assert status.version == 1 and status.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    assert status.status.error_code == 0
    request.model_spec.version.value = 3
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetModelStatus(request, timeout=30)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def triton_inputs(triton, model, rows):
    metadata = triton.get_model_metadata(model, as_json=True)
    inputs = []
    for name, array in arrays_from_metadata(rows, metadata["inputs"]).items():
        datatype = next(m["datatype"] for m in metadata["inputs"] if m["name"] == name)
        item = grpcclient.InferInput(name, list(array.shape), datatype)
        item.set_data_from_numpy(array)
        inputs.append(item)
    return inputs


def test_oip_grpc_health_and_metadata(triton):
    assert triton.is_server_live() and triton.is_server_ready()
    assert triton.is_model_ready("deepfm") and not triton.is_model_ready("deepfm", "4")
    assert "binary_tensor_data" in triton.get_server_metadata(as_json=True)["extensions"]
    metadata = triton.get_model_metadata("deepfm", as_json=True)
    shapes = {m["name"]: (m["datatype"], [int(d) for d in m["shape"]]) for m in metadata["inputs"]}
    assert shapes["genres"] == ("BYTES", [-1, 5]) and shapes["I1"] == ("FP32", [-1])
    assert metadata["versions"] == ["1"]


def test_oip_grpc_infer_scores_equal_the_bundles_own(triton, deepfm_bundle):
    rows = tensor_rows(make_rows(np.random.default_rng(35), 9))
    expected = deepfm_bundle.predict(reference_columns(rows))["ctr"]
    for version in ("", "1"):
        result = triton.infer("deepfm", triton_inputs(triton, "deepfm", rows), model_version=version,
                              outputs=[grpcclient.InferRequestedOutput("ctr")])
        np.testing.assert_allclose(result.as_numpy("ctr"), expected, atol=1e-5)
        assert result.get_response().model_version == "1"


def test_oip_grpc_typed_contents(channel, deepfm_bundle):
    rows = tensor_rows(make_rows(np.random.default_rng(36), 3))
    expected = deepfm_bundle.predict(reference_columns(rows))["ctr"]
    stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
    metadata = stub.ModelMetadata(service_pb2.ModelMetadataRequest(name="deepfm"), timeout=30)
    described = [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in metadata.inputs]
    request = service_pb2.ModelInferRequest(model_name="deepfm", id="typed-1")
    fields = {"BYTES": "bytes_contents", "INT32": "int_contents", "INT64": "int64_contents", "FP32": "fp32_contents"}
    for name, array in arrays_from_metadata(rows, described).items():
        datatype = next(d["datatype"] for d in described if d["name"] == name)
        item = request.inputs.add(name=name, datatype=datatype, shape=list(array.shape))
        getattr(item.contents, fields[datatype]).extend(array.ravel().tolist())
    answer = stub.ModelInfer(request, timeout=30)
    assert answer.id == "typed-1" and answer.model_version == "1"
    np.testing.assert_allclose(np.frombuffer(answer.raw_output_contents[0], dtype="<f4"), expected, atol=1e-5)


def test_oip_grpc_errors(triton):
    rows = tensor_rows(make_rows(np.random.default_rng(37), 4))
    inputs = [i for i in triton_inputs(triton, "deepfm", rows) if i.name() != "hist"]
    hist = np.array([[1, 2, 0, 0, 0], [1, 2, 3, 4, 5], [3, 0, 0, 0, 0], [4, 4, 0, 0, 0]], dtype=np.int32)
    inputs.append(grpcclient.InferInput("hist", [4, 5], "INT32"))
    inputs[-1].set_data_from_numpy(hist)
    with pytest.raises(InferenceServerException) as caught:
        triton.infer("deepfm", inputs)
    assert caught.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert "row 1, feature 'hist': a list of 5 values is longer than maxlen 4" in caught.value.message()
    good = triton_inputs(triton, "deepfm", rows)
    for model, version in (("nope", ""), ("deepfm", "5")):
        with pytest.raises(InferenceServerException) as caught:
            triton.infer(model, good, model_version=version)
        assert caught.value.status() == "StatusCode.NOT_FOUND"


def test_grpc_calls_are_counted_under_their_own_endpoints(server, channel, triton):
    rows = tensor_rows(make_rows(np.random.default_rng(38), 2))
    tfs.PredictionServiceStub(channel).Predict(tf_request(channel, "deepfm", rows), timeout=30)
    triton.infer("deepfm", triton_inputs(triton, "deepfm", rows))
    text = httpx.get(f"{server.url}/metrics").text
    for endpoint in ("tf_grpc_predict", "oip_grpc_infer"):
        assert metric_value(text, "ctrkit_requests_total", endpoint=endpoint, status="200", version="1") >= 1
