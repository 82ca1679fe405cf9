"""Repeated keys in a body: refused with the row and the feature, whichever step of the check settles it."""

from __future__ import annotations

import pytest
from test_service_decoding import SPEC

from ctrkit.export import PackedLayout
from service.decoding import Decoder
from service.errors import PayloadError
from service.features import parse_features
from service.schemas import build_schemas

ROW = b'"C1": "a", "user_id": 3, "vec": [1, 2, 3], "items": [1], "items_w": [1.0]'
COLON_ROW = b'"C1": "a:b", "user_id": 3, "vec": [1, 2, 3], "items": [1], "items_w": [1.0], "genres": ["x:1", "y"]'
CONTEXT = b'"context": {"C1": "a:b", "vec": [1, 2, 3], "items": [1], "items_w": [1.0]}'


@pytest.fixture(scope="module")
def decoder() -> Decoder:
    features = parse_features(SPEC)
    return Decoder(features, PackedLayout.from_entries(SPEC["features"]), build_schemas("m", 1, features, ["ctr"], 10))


@pytest.mark.parametrize(
    "body",
    [
        b'{"instances": [{' + ROW + b'}, {' + ROW + b'}]}',
        b'{"instances" : [{"C1" : "a", "user_id" : 3, "vec" : [1, 2, 3], "items" : [1], "items_w" : [1.0]}]}',
        b'{"instances": [{' + COLON_ROW + b'}, {' + COLON_ROW + b'}]}',
        b'{"instances": [{' + ROW + b', "genres": ["x\\u003a1"]}]}',
        b'{"inputs": {"C1": ["a:b"], "user_id": [3], "vec": [[1, 2, 3]], "items": [[1]], "items_w": [[1.0]]}}',
        b'{' + CONTEXT + b', "candidates": [{"user_id": 3}, {"user_id": 4}]}',
    ],
)
def test_bodies_without_repeats_pass(decoder, body):
    assert decoder.decode(body).rows >= 1


@pytest.mark.parametrize(
    "body, loc, words",
    [
        # step 1 cannot vouch (one colon too many), jiter finds the repeat
        (b'{"instances": [{' + ROW + b'}, {' + ROW + b', "user_id": 4}]}', ["body", "instances", 1, "user_id"],
         "row 1, feature 'user_id': given twice in the row"),
        # whitespace before the colons does not hide a repeat
        (b'{"instances" : [{"C1" : "a", "user_id" : 3, "vec" : [1, 2, 3], "items" : [1], "items_w" : [1.0], '
         b'"user_id" : 5}]}', ["body", "instances", 0, "user_id"], "row 0, feature 'user_id'"),
        # colons in values: the repeat's own value holds one
        (b'{"instances": [{' + COLON_ROW + b'}, {' + COLON_ROW + b', "C1": "c:d"}]}', ["body", "instances", 1, "C1"],
         "row 1, feature 'C1'"),
        (b'{"inputs": {"C1": ["a:b"], "user_id": [3], "vec": [[1, 2, 3]], "items": [[1]], "items_w": [[1.0]], '
         b'"user_id": [4]}}', ["body", "inputs", "user_id"], "inputs feature 'user_id'"),
        (b'{' + CONTEXT + b', "candidates": [{"user_id": 3}, {"user_id": 4, "user_id": 5}]}',
         ["body", "candidates", 1, "user_id"], "row 1, feature 'user_id'"),
        (b'{' + CONTEXT[:-1] + b', "vec": [3, 2, 1]}, "candidates": [{"user_id": 3}]}', ["body", "context", "vec"],
         "context feature 'vec'"),
        (b'{"instances": [{' + ROW + b'}], "instances": [{' + ROW + b'}]}', ["body", "instances"],
         "field 'instances' is given twice"),
    ],
)
def test_repeated_keys_are_refused_by_row_and_feature(decoder, body, loc, words):
    with pytest.raises(PayloadError) as caught:
        decoder.decode(body)
    [item] = caught.value.errors
    assert caught.value.status_code == 422
    assert item["loc"] == loc and item["type"] == "duplicate_key" and words in item["msg"], item


def test_tf_serving_bodies_are_checked_too(decoder):
    body = b'{"signature_name": "serving_default", "signature_name": "", "instances": [{' + ROW + b'}]}'
    with pytest.raises(PayloadError) as caught:
        decoder.decode(body, tf_serving=True)
    assert "field 'signature_name' is given twice" in caught.value.errors[0]["msg"]
