"""Payload checks and column building from a feature spec (no TensorFlow)."""

from __future__ import annotations

import copy
import random

import numpy as np
import pydantic
import pytest

from service.codec import FeatureCodec, PayloadError
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
def codec() -> FeatureCodec:
    return FeatureCodec(SPEC, max_rows=10)


def as_columns(rows):
    names = dict.fromkeys(name for row in rows for name in row)
    return {name: [row.get(name) for row in rows] for name in names}


def test_row_and_column_forms_build_the_same_padded_arrays(codec):
    by_rows, n = codec.decode({"instances": ROWS})
    by_columns, m = codec.decode({"inputs": as_columns(ROWS)})
    assert n == m == 2
    assert set(by_rows) == set(by_columns) == set(codec.input_names)
    for name in by_rows:
        np.testing.assert_array_equal(by_rows[name], by_columns[name])
    assert by_rows["user_id"].dtype == np.int32 and by_rows["items"].dtype == np.int64
    assert by_rows["C1"].dtype == object and by_rows["I1"].dtype == np.float32
    assert by_rows["genres"].tolist() == [["x", "y", "", "", ""], ["", "", "", "", ""]]
    assert by_rows["genres_len"].tolist() == [2, 0]
    assert by_rows["items"].tolist() == [[1, 2, 0, 0], [49, 0, 0, 0]]
    assert by_rows["items_w"].tolist() == [[0.5, 2.0, 0, 0], [1.0, 0, 0, 0]]
    assert by_rows["vec"].shape == (2, 3)


def test_defaults_fill_missing_and_null_values(codec):
    rows = [dict(ROWS[0]), {k: v for k, v in ROWS[1].items() if k not in ("C1", "genres")}]
    rows[0]["I1"] = None
    cols, _ = codec.decode({"instances": rows})
    assert cols["C1"].tolist() == ["a", ""]
    assert cols["I1"].tolist() == [0.0, -2.0]
    assert cols["genres"][1].tolist() == [""] * 5 and cols["genres_len"].tolist() == [2, 0]


def errors_of(codec, payload):
    with pytest.raises(PayloadError) as info:
        codec.decode(payload)
    return info.value


def with_value(row_index, feature, value):
    rows = copy.deepcopy(ROWS)
    rows[row_index][feature] = value
    return rows


@pytest.mark.parametrize(
    "feature, value, kind, words",
    [
        ("user_id", 120, "out_of_range", "outside [0, 120)"),
        ("user_id", -1, "out_of_range", "outside [0, 120)"),
        ("user_id", 2**70, "out_of_range", "outside"),
        ("user_id", "3", "type_error", "expected an integer"),
        ("user_id", 3.0, "type_error", "expected an integer"),
        ("user_id", True, "type_error", "boolean"),
        ("C1", 7, "type_error", "expected a string"),
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
def test_each_bad_value_is_named_by_feature_and_row(codec, feature, value, kind, words):
    for form in ("instances", "inputs"):
        rows = with_value(1, feature, value)
        payload = {"instances": rows} if form == "instances" else {"inputs": as_columns(rows)}
        error = errors_of(codec, payload)
        assert error.status_code == 422
        [item] = [e for e in error.errors if e["feature"] == feature]
        assert item["row"] == 1 and item["type"] == kind
        assert f"row 1, feature {feature!r}" in item["msg"] and words in item["msg"]


def test_unknown_and_missing_features(codec):
    rows = copy.deepcopy(ROWS)
    rows[1]["C_1"] = "x"
    del rows[1]["user_id"]
    msgs = {(e["feature"], e["row"], e["type"]) for e in errors_of(codec, {"instances": rows}).errors}
    assert msgs == {("C_1", 1, "unknown_feature"), ("user_id", 1, "missing")}
    error = errors_of(codec, {"instances": rows})
    assert "did you mean 'C1'" in error.errors[0]["msg"] or "did you mean 'C1'" in error.errors[1]["msg"]
    cols = as_columns(ROWS)
    del cols["vec"]
    [item] = errors_of(codec, {"inputs": cols}).errors
    assert item["feature"] == "vec" and item["type"] == "missing"


def test_row_count_limits_and_shapes(codec):
    assert "too many rows" in errors_of(codec, {"instances": [ROWS[0]] * 11}).errors[0]["msg"]
    assert errors_of(codec, {"instances": []}).errors[0]["type"] == "too_short"
    assert errors_of(codec, {"instances": {"a": 1}}).errors[0]["type"] == "type_error"
    assert errors_of(codec, {"instances": [ROWS[0], 5]}).errors[0]["row"] == 1
    cols = as_columns(ROWS)
    cols["I1"] = [1.0]
    assert "has 1 values" in errors_of(codec, {"inputs": cols}).errors[0]["msg"]
    assert errors_of(codec, {"instances": ROWS, "inputs": cols}).errors[0]["msg"].startswith("give either")
    assert errors_of(codec, {}).errors[0]["type"] == "missing"


def test_several_errors_are_reported_together(codec):
    rows = [copy.deepcopy(r) for r in ROWS * 3]
    rows[2]["user_id"] = 500
    rows[4]["user_id"] = 501
    rows[5]["I1"] = float("nan")
    errors = errors_of(codec, {"instances": rows}).errors
    assert [(e["feature"], e["row"]) for e in errors] == [("user_id", 2), ("I1", 5)]
    assert "(and 1 more row)" in errors[0]["msg"]


def test_generated_pydantic_models_agree_with_the_codec(codec):
    schemas = build_schemas("m", 1, codec, ["ctr"], 10)
    cases = [ROWS] + [with_value(1, f, v) for f, v in [
        ("user_id", 120), ("user_id", True), ("I1", float("nan")), ("C1", 7), ("genres", ["a"] * 6),
        ("vec", [1, 2]), ("items", [1, 50]), ("I1", 3), ("C1", None),
    ]]
    for rows in cases:
        for form, model in (("instances", schemas.row_request), ("inputs", schemas.column_request)):
            payload = {form: rows if form == "instances" else as_columns(rows)}
            try:
                codec.decode(payload)
                accepted = True
            except PayloadError:
                accepted = False
            try:
                model.model_validate(payload)
                valid = True
            except pydantic.ValidationError:
                valid = False
            assert accepted == valid, (form, rows[1])
    doc = schemas.row_request.model_json_schema()
    row_doc = doc["$defs"]["m_v1_Row"]["properties"]
    assert row_doc["user_id"]["exclusiveMaximum"] == 120
    assert row_doc["genres"]["anyOf"][0]["maxItems"] == 5
    assert "user_id" in doc["$defs"]["m_v1_Row"]["required"]


def test_example_and_probe_rows_are_valid(codec):
    cols, n = codec.decode({"instances": [codec.example_row()]})
    assert n == 1
    cols, n = codec.decode({"instances": codec.probe_rows(10)})
    assert n == 10 and len({tuple(row) for row in cols["items"].tolist()}) > 1


def test_malformed_payloads_never_escape_as_other_errors(codec):
    rng = random.Random(0)
    junk = [None, True, 0, -1, 2**64, 1.5, float("nan"), "", "x", [], [1], [[1]], {}, {"a": 1}, [None]]
    for _ in range(2000):
        rows = copy.deepcopy(ROWS)
        for _ in range(rng.randint(1, 3)):
            row = rng.choice(rows)
            key = rng.choice(list(row) + ["zzz"])
            if rng.random() < 0.2:
                row.pop(key, None)
            else:
                row[key] = rng.choice(junk)
        payload = rng.choice([{"instances": rows}, {"inputs": as_columns(rows)} if all(
            r.keys() == rows[0].keys() for r in rows) else {"instances": rows}])
        try:
            cols, n = codec.decode(payload)
        except PayloadError as exc:
            assert exc.errors and all(e["msg"] for e in exc.errors)
        else:
            assert all(len(a) == n for a in cols.values())
            assert all(np.all(np.isfinite(a)) for a in cols.values() if a.dtype.kind == "f")
