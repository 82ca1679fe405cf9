"""From body bytes to packed matrices: validation by the generated models, errors naming feature and row."""

from __future__ import annotations

import copy
import json
import random

import numpy as np
import pytest

from ctrkit.export import PackedLayout
from service.decoding import Decoder
from service.errors import PayloadError
from service.features import example_row, parse_features, probe_rows
from service.schemas import build_schemas

SPEC = {
    "format_version": 1,
    "model": {"name": "m", "class": "DeepFM", "version": 1,
              "tasks": [{"name": "ctr", "type": "binary"}], "outputs": ["ctr"]},
    "features": [
        {"name": "C1", "kind": "sparse", "dtype": "string", "vocabulary_size": 1000, "use_hash": True,
         "vocabulary": None, "default": ""},
        {"name": "user_id", "kind": "sparse", "dtype": "int32", "vocabulary_size": 120, "use_hash": False,
         "vocabulary": None, "default": None},
        {"name": "I1", "kind": "dense", "dtype": "float32", "dimension": 1, "default": 0.0},
        {"name": "vec", "kind": "dense", "dtype": "float32", "dimension": 3, "default": None},
        {"name": "genres", "kind": "varlen", "dtype": "string", "vocabulary_size": 100, "use_hash": True,
         "vocabulary": None, "maxlen": 5, "combiner": "mean", "length_name": "genres_len", "default": []},
        {"name": "genres_len", "kind": "length", "dtype": "int32", "length_of": "genres", "default": None},
        {"name": "items", "kind": "varlen", "dtype": "int64", "vocabulary_size": 50, "use_hash": False,
         "vocabulary": None, "maxlen": 4, "combiner": "sum", "weight_name": "items_w", "default": None},
        {"name": "items_w", "kind": "weight", "dtype": "float32", "maxlen": 4, "weight_of": "items",
         "default": None},
    ],
}
ROWS = [
    {"C1": "a", "user_id": 3, "I1": 0.5, "vec": [1, 2, 3], "genres": ["x", "y"], "items": [1, 2],
     "items_w": [0.5, 2.0]},
    {"C1": "bb", "user_id": 119, "I1": -2, "vec": [0.0, 0.5, 1e3], "genres": [], "items": [49],
     "items_w": [1.0]},
]


@pytest.fixture(scope="module")
def decoder() -> Decoder:
    features = parse_features(SPEC)
    layout = PackedLayout.from_entries(SPEC["features"])
    return Decoder(features, layout, build_schemas("m", 1, features, ["ctr"], 10))


def encode(payload) -> bytes:
    return json.dumps(payload).encode()


def columns_of(decoder, payload, **kw):
    decoded = decoder.decode(encode(payload) if not isinstance(payload, bytes) else payload, **kw)
    return decoder.layout.unpack(decoded.packed), decoded.rows


def as_columns(rows):
    names = dict.fromkeys(name for row in rows for name in row)
    return {name: [row.get(name) for row in rows] for name in names}


def errors_of(decoder, payload, **kw) -> PayloadError:
    with pytest.raises(PayloadError) as info:
        decoder.decode(encode(payload) if not isinstance(payload, bytes) else payload, **kw)
    return info.value


def test_rows_columns_and_ranking_build_the_same_padded_matrices(decoder):
    by_rows, n = columns_of(decoder, {"instances": ROWS})
    by_columns, m = columns_of(decoder, {"inputs": as_columns(ROWS)})
    shared = {"C1": "a", "vec": [1, 2, 3]}
    same_context = [{**{k: v for k, v in row.items() if k not in shared}} for row in ROWS]
    ranked_rows = [dict(ROWS[0]), {**ROWS[1], **shared}]
    by_ranking, k = columns_of(decoder, {"context": shared, "candidates": same_context})
    by_ranking_columns, j = columns_of(decoder, {"context": shared, "candidates": as_columns(same_context)})
    reference, _ = columns_of(decoder, {"instances": ranked_rows})
    assert n == m == k == j == 2
    for name in decoder.input_names:
        np.testing.assert_array_equal(by_rows[name], by_columns[name])
        np.testing.assert_array_equal(by_ranking[name], reference[name])
        np.testing.assert_array_equal(by_ranking_columns[name], reference[name])
    assert by_rows["user_id"].dtype == np.int32 and by_rows["items"].dtype == np.int64
    assert by_rows["C1"].dtype == object and by_rows["I1"].dtype == np.float32
    assert by_rows["genres"].tolist() == [["x", "y", "", "", ""], ["", "", "", "", ""]]
    assert by_rows["genres_len"].tolist() == [2, 0]
    assert by_rows["items"].tolist() == [[1, 2, 0, 0], [49, 0, 0, 0]]
    assert by_rows["items_w"].tolist() == [[0.5, 2.0, 0, 0], [1.0, 0, 0, 0]]
    assert by_rows["vec"].shape == (2, 3)


SCALAR_SPEC = {**SPEC, "features": [f for f in SPEC["features"] if f["name"] in ("C1", "user_id", "I1")] + [
    {"name": "C2", "kind": "sparse", "dtype": "string", "vocabulary_size": 1000, "use_hash": True,
     "vocabulary": None, "default": None},
    {"name": "I2", "kind": "dense", "dtype": "float32", "dimension": 1, "default": None},
]}


def test_ranking_of_scalar_features_builds_the_rows_matrices_whatever_the_candidates_send():
    # scalar features only: the usual ranking request is built like the row form, the others as before
    features = parse_features(SCALAR_SPEC)
    decoder = Decoder(features, PackedLayout.from_entries(SCALAR_SPEC["features"]),
                      build_schemas("m", 1, features, ["ctr"], 10))
    rows = [{"C1": "a", "user_id": 3, "I1": 0.5, "C2": "p", "I2": 1.5},
            {"C1": "bb", "user_id": 119, "I1": -2.0, "C2": "q", "I2": -1.0},
            {"C1": "", "user_id": 0, "I1": 0.0, "C2": "r", "I2": 0.25}]
    context = {"user_id": 7, "C2": "ctx"}
    cases = {
        "every candidate sends the same": [{"C1": r["C1"], "I1": r["I1"], "I2": r["I2"]} for r in rows],
        "defaults left out": [{"I2": r["I2"]} for r in rows],
        "one candidate leaves a default out": [{"C1": "a", "I1": 0.5, "I2": 1.5}, {"I2": -1.0}, {"C1": "", "I2": 0.25}],
    }
    for name, candidates in cases.items():
        expected = [{"C1": "", "I1": 0.0, **c, **context} for c in candidates]
        by_rows, n = columns_of(decoder, {"instances": expected})
        by_ranking, k = columns_of(decoder, {"context": context, "candidates": candidates})
        assert n == k == 3, name
        for feature in decoder.input_names:
            np.testing.assert_array_equal(by_ranking[feature], by_rows[feature], err_msg=name)
            assert by_ranking[feature].dtype == by_rows[feature].dtype, name
    # problems are still named by feature and row
    null = [{"I2": 1.0}, {"I2": None}, {"I2": 2.0}]
    [item] = errors_of(decoder, {"context": context, "candidates": null}).errors
    assert item["feature"] == "I2" and item["row"] == 1 and item["msg"].endswith("missing required feature")
    # candidates as columns: a null is no value of the feature's type, named by feature and row too
    [item] = errors_of(decoder, {"context": context, "candidates": {"I2": [1.0, None, 2.0]}}).errors
    assert item["feature"] == "I2" and item["row"] == 1, item
    missing = [{"I1": 1.0}] * 3
    [item] = errors_of(decoder, {"context": context, "candidates": missing}).errors
    assert item["feature"] == "I2" and "give it in the context or in every candidate" in item["msg"]
    both = [{"I2": 1.0, "C2": "x"}] * 3
    [item] = errors_of(decoder, {"context": context, "candidates": both}).errors
    assert item["feature"] == "C2" and "context and in the candidates" in item["msg"]


def test_matrices_follow_the_packed_layout(decoder):
    decoded = decoder.decode(encode({"instances": ROWS}))
    assert set(decoded.packed) == {"strings", "ints", "floats"}
    assert decoded.packed["strings"].shape == (2, 1 + 5)
    assert decoded.packed["ints"].dtype == np.int64 and decoded.packed["floats"].dtype == np.float32
    np.testing.assert_array_equal(decoded.packed["strings"][0], ["a", "x", "y", "", "", ""])


def test_defaults_fill_features_left_out(decoder):
    rows = [dict(ROWS[0]), {k: v for k, v in ROWS[1].items() if k not in ("C1", "genres", "I1")}]
    cols, _ = columns_of(decoder, {"instances": rows})
    assert cols["C1"].tolist() == ["a", ""]
    assert cols["I1"].tolist() == [0.5, 0.0]
    assert cols["genres"][1].tolist() == [""] * 5 and cols["genres_len"].tolist() == [2, 0]
    columns = as_columns(ROWS)
    del columns["I1"]
    cols, _ = columns_of(decoder, {"inputs": columns})
    assert cols["I1"].tolist() == [0.0, 0.0]


@pytest.mark.parametrize(
    "feature, value, kind, words",
    [
        ("user_id", 120, "out_of_range", "outside [0, 120)"),
        ("user_id", -1, "out_of_range", "outside [0, 120)"),
        ("user_id", 2**70, "out_of_range", "outside"),
        ("user_id", "3", "type_error", "expected an integer"),
        ("user_id", 3.0, "type_error", "expected an integer"),
        ("user_id", True, "type_error", "boolean"),
        ("user_id", None, "missing", "null given"),
        ("C1", 7, "type_error", "expected a string"),
        ("C1", None, "type_error", "leave the feature out"),
        ("I1", float("nan"), "not_finite", "finite"),
        ("I1", float("inf"), "not_finite", "finite"),
        ("I1", 1e39, "not_finite", "float32"),
        ("I1", "1.5", "type_error", "expected a number"),
        ("vec", [1, 2], "value_error", "3 numbers"),
        ("vec", [1, 2, float("nan")], "not_finite", "finite"),
        ("genres", ["a"] * 6, "too_long", "longer than maxlen 5"),
        ("genres", "abc", "type_error", "expected a list"),
        ("genres", ["a", 1], "type_error", "expected a string"),
        ("items", [1, 50], "out_of_range", "outside [0, 50)"),
        ("items_w", [1.0, 2.0], "value_error", "weights"),
        ("genres_len", 1, "value_error", "differs"),
    ],
)
def test_each_bad_value_is_named_by_feature_and_row(decoder, feature, value, kind, words):
    for form in ("instances", "inputs"):
        rows = copy.deepcopy(ROWS)
        rows[1][feature] = value
        payload = {"instances": rows} if form == "instances" else {"inputs": as_columns(rows)}
        error = errors_of(decoder, payload)
        assert error.status_code == 422
        [item] = [e for e in error.errors if e["feature"] == feature]
        assert item["row"] == 1 and item["type"] == kind, item
        assert f"row 1, feature {feature!r}" in item["msg"] and words in item["msg"], item["msg"]


def test_unknown_and_missing_features(decoder):
    rows = copy.deepcopy(ROWS)
    rows[1]["C_1"] = "x"
    del rows[1]["user_id"]
    error = errors_of(decoder, {"instances": rows})
    assert {(e["feature"], e["row"], e["type"]) for e in error.errors} == {
        ("C_1", 1, "unknown_feature"), ("user_id", 1, "missing")}
    assert any("did you mean 'C1'" in e["msg"] for e in error.errors)
    cols = as_columns(ROWS)
    del cols["vec"]
    [item] = errors_of(decoder, {"inputs": cols}).errors
    assert item["feature"] == "vec" and item["type"] == "missing"


def test_row_count_limits_and_shapes(decoder):
    assert "too many rows" in errors_of(decoder, {"instances": [ROWS[0]] * 11}).errors[0]["msg"]
    assert errors_of(decoder, {"instances": []}).errors[0]["type"] == "too_short"
    assert errors_of(decoder, {"instances": {"a": 1}}).errors[0]["type"] == "type_error"
    assert errors_of(decoder, {"instances": [ROWS[0], 5]}).errors[0]["row"] == 1
    cols = as_columns(ROWS)
    cols["I1"] = [1.0]
    assert "has 1 values" in errors_of(decoder, {"inputs": cols}).errors[0]["msg"]
    assert errors_of(decoder, {"instances": ROWS, "inputs": cols}).errors[0]["msg"].startswith("give exactly one")
    assert errors_of(decoder, {}).errors[0]["msg"].startswith("give exactly one")
    assert "unknown field 'rows'" in errors_of(decoder, {"rows": ROWS}).errors[0]["msg"]
    assert errors_of(decoder, b"[1, 2]").errors[0]["msg"] == "the body must be a JSON object, got a list"


def test_several_errors_are_reported_together_with_counts(decoder):
    rows = [copy.deepcopy(r) for r in ROWS * 3]
    rows[2]["user_id"] = 500
    rows[4]["user_id"] = 501
    rows[5]["I1"] = float("nan")
    errors = errors_of(decoder, {"instances": rows}).errors
    assert [(e["feature"], e["row"]) for e in errors] == [("user_id", 2), ("I1", 5)]
    assert "(and 1 more row)" in errors[0]["msg"]


@pytest.mark.parametrize(
    "raw, words",
    [
        (b'{"instances": [{"C1": "a"}, {"C1": "\\ud800"}]}', "lone UTF-16 surrogate"),
        (b'{"instances": [{"C1": "a"}, {"C1": "b\xff"}]}', "not valid UTF-8 (byte 0xff"),
        (b'{"instances": [{"C1": "a"}, {"user_id": ' + b"9" * 5000 + b"}]}", "(5000 digits) is outside [0, 120)"),
        (b'{"inputs": {"C1": ["a", "\\udc00x"]}}', "lone UTF-16 surrogate"),
    ],
)
def test_values_the_json_parser_refuses_are_named_by_feature_and_row(decoder, raw, words):
    error = errors_of(decoder, raw)
    [item] = error.errors
    assert item["row"] == 1 and words in item["msg"], item["msg"]


def test_ranking_rules(decoder):
    context = {"C1": "a", "vec": [1, 2, 3]}
    candidates = [{k: v for k, v in row.items() if k not in context} for row in ROWS]
    both = copy.deepcopy(candidates)
    both[1]["C1"] = "z"
    [item] = errors_of(decoder, {"context": context, "candidates": both}).errors
    assert item["feature"] == "C1" and "context and in the candidates" in item["msg"]
    missing = copy.deepcopy(candidates)
    del missing[1]["user_id"]
    [item] = errors_of(decoder, {"context": context, "candidates": missing}).errors
    assert (item["feature"], item["row"], item["type"]) == ("user_id", 1, "missing")
    [item] = errors_of(decoder, {"context": {"C1": 5}, "candidates": candidates}).errors
    assert item["msg"] == "context feature 'C1': expected a string, got the integer 5"
    bad = copy.deepcopy(candidates)
    bad[0]["user_id"] = 999
    [item] = errors_of(decoder, {"context": context, "candidates": bad}).errors
    assert item["msg"].startswith("row 0, feature 'user_id': id 999 is outside")
    assert "needs 'candidates'" in errors_of(decoder, {"context": context}).errors[0]["msg"]


def test_model_and_version_are_read_and_checked(decoder):
    decoded = decoder.decode(encode({"model": "m", "version": "1", "instances": ROWS}))
    assert (decoded.model, decoded.version) == ("m", 1)
    error = errors_of(decoder, {"model": "other", "instances": ROWS})
    assert error.named == ("other", None) and "'other' is not served here" in error.errors[0]["msg"]
    for version in ("1\n", 0, -1, True, "x"):
        assert "invalid version" in errors_of(decoder, {"version": version, "instances": ROWS}).errors[0]["msg"]


def test_tf_serving_envelope(decoder):
    decoded = decoder.decode(encode({"signature_name": "serving_default", "inputs": as_columns(ROWS)}), tf_serving=True)
    assert decoded.form == "inputs" and decoded.rows == 2
    assert "unknown field 'model'" in errors_of(decoder, {"model": "m", "instances": ROWS}, tf_serving=True).errors[0]["msg"]


def test_generated_models_document_ranges_and_lengths(decoder):
    doc = decoder.schemas.request.model_json_schema()
    row_doc = doc["$defs"]["m_v1_Row"]["properties"]
    assert row_doc["user_id"]["exclusiveMaximum"] == 120
    assert row_doc["genres"]["maxItems"] == 5
    assert "user_id" in doc["$defs"]["m_v1_Row"]["required"]
    assert {"required": ["context", "candidates"]} in doc["oneOf"]


def test_example_and_probe_rows_are_valid(decoder):
    assert decoder.decode_rows([example_row(decoder.features)]).rows == 1
    decoded = decoder.decode_rows(probe_rows(decoder.features, 10))
    cols = decoder.layout.unpack(decoded.packed)
    assert decoded.rows == 10 and len({tuple(row) for row in cols["items"].tolist()}) > 1


def test_malformed_payloads_never_escape_as_other_errors(decoder):
    rng = random.Random(0)
    junk = [None, True, 0, -1, 2**64, 1.5, float("nan"), "", "x", [], [1], [[1]], {}, {"a": 1}, [None]]
    for _ in range(1500):
        rows = copy.deepcopy(ROWS)
        for _ in range(rng.randint(1, 3)):
            row = rng.choice(rows)
            key = rng.choice(list(row) + ["zzz"])
            if rng.random() < 0.2:
                row.pop(key, None)
            else:
                row[key] = rng.choice(junk)
        form = rng.choice(["instances", "inputs", "ranking"])
        if form == "instances" or not all(r.keys() == rows[0].keys() for r in rows):
            payload = {"instances": rows}
        elif form == "inputs":
            payload = {"inputs": as_columns(rows)}
        else:
            payload = {"context": {"C1": "a"}, "candidates": [{k: v for k, v in r.items() if k != "C1"} for r in rows]}
        try:
            decoded = decoder.decode(json.dumps(payload).encode())
        except PayloadError as exc:
            assert exc.errors and all(e["msg"] for e in exc.errors)
        else:
            cols = decoder.layout.unpack(decoded.packed)
            assert all(len(a) == decoded.rows for a in cols.values())
            assert all(np.all(np.isfinite(a)) for a in cols.values() if a.dtype.kind == "f")
            assert all(isinstance(v, str) for v in decoded.packed["strings"].ravel())


GOOD = b'"C1": "a", "user_id": 3, "vec": [1, 2, 3], "items": [1], "items_w": [1.0]'


@pytest.mark.parametrize(
    "raw, feature, words",
    [
        (b'{"instances": [{' + GOOD + b'}, {' + GOOD + b', "I1": 1e400}]}', "I1", "value 1e400 is too large"),
        (b'{"instances": [{' + GOOD + b'}, {' + GOOD + b', "I1": -1E+400}]}', "I1", "value -1E+400 is too large"),
        (b'{"instances": [{' + GOOD + b'}, {' + GOOD + b', "I1": Infinity}]}', "I1", "value Infinity is not a finite"),
        (b'{"instances": [{' + GOOD + b'}, {' + GOOD + b', "I1": NaN}]}', "I1", "value NaN is not a finite"),
        (b'{"instances": [{' + GOOD + b'}, {' + GOOD + b', "user_id": 1e400}]}', "user_id",
         "expected an integer, got the number 1e400"),
        (b'{"instances": [{' + GOOD + b'}, {' + GOOD + b', "user_id": "7"}]}', "user_id",
         "expected an integer, got the string '7'"),
        (b'{"inputs": {"C1": ["a", "b"], "user_id": [3, 4], "items": [[1], [2]], "items_w": [[1.0], [1.0]], '
         b'"vec": [[1, 2, 3], [1, 2, Infinity]]}}', "vec",
         "element 2: value Infinity"),
        (b'{"context": {"C1": "a", "vec": [1, 2, 3], "items": [1], "items_w": [1.0]}, '
         b'"candidates": [{"user_id": 3}, {"user_id": 4, "I1": -Infinity}]}', "I1", "value -Infinity"),
        (b'{"instances": [{' + GOOD + b'}, {' + GOOD + b', "I\xff1": 1.0}]}', None,
         "feature name 'I\\xff1': the string is not valid UTF-8 (byte 0xff"),
    ],
)
def test_answers_say_what_was_sent(decoder, raw, feature, words):
    [item] = errors_of(decoder, raw).errors
    assert item["feature"] == feature and item["row"] == 1 and words in item["msg"], item["msg"]
