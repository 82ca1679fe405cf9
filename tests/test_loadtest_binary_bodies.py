"""The binary protocols' request bodies the bench sends decode to the rows they were built from."""

from __future__ import annotations

import numpy as np
import pytest

from ctrkit.export import PackedLayout
from loadtest.binary_bodies import oip_binary_request, tf_predict_request
from loadtest.requestgen import RequestGenerator
from service.features import parse_features
from service.tensors import TensorDecoder

SPEC = {
    "model": {"name": "ads"},
    "features": [
        {"name": "C1", "kind": "sparse", "dtype": "string", "vocabulary_size": 100, "use_hash": True},
        {"name": "user_id", "kind": "sparse", "dtype": "int32", "vocabulary_size": 50},
        {"name": "I1", "kind": "dense", "dtype": "float32", "dimension": 1},
        {"name": "hist", "kind": "varlen", "dtype": "int32", "vocabulary_size": 30, "maxlen": 4,
         "length_name": "hist_len"},
        {"name": "hist_len", "kind": "length", "dtype": "int32", "length_of": "hist"},
    ],
}


def expected_matrices(columns):
    cols = dict(columns)
    cols["hist"] = [list(v) + [0] * (4 - len(v)) for v in cols["hist"]]
    cols["hist_len"] = [len(v) for v in columns["hist"]]
    return PackedLayout.from_entries(SPEC["features"]).pack(cols)


@pytest.fixture
def columns():
    columns = RequestGenerator(SPEC, seed=4).columns(25)
    columns["hist"] = [[v or 1 for v in row] for row in columns["hist"]]  # a trailing 0 would read as padding
    return columns


def decoder():
    return TensorDecoder(parse_features(SPEC), PackedLayout.from_entries(SPEC["features"]), 100)


def same(decoded, expected):
    got = decoded.packed
    assert [[v.decode() for v in row] for row in got["strings"].tolist()] == expected["strings"].tolist()
    np.testing.assert_array_equal(got["ints"], expected["ints"])
    np.testing.assert_allclose(got["floats"], expected["floats"])


def test_oip_binary_body_decodes_to_its_rows(columns):
    from service.routes.oip import parse_request

    body, headers = oip_binary_request(SPEC, columns)
    scope = {"headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
    same(decoder().decode(parse_request(scope, body).tensors), expected_matrices(columns))


def test_tf_predict_request_decodes_to_its_rows(columns):
    pytest.importorskip("tensorflow_serving.apis.predict_pb2")
    from tensorflow_serving.apis import predict_pb2

    from service.tfserving_grpc import tensors_of

    request = predict_pb2.PredictRequest.FromString(tf_predict_request(SPEC, columns, "ads"))
    assert request.model_spec.name == "ads"
    same(decoder().decode(tensors_of(request.inputs)), expected_matrices(columns))
