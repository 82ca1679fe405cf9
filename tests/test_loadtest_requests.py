"""The load test's request generator: valid payloads for the service, Zipf-like values."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from loadtest.requestgen import (
    RequestGenerator,
    context_features,
    parse_rows_option,
    ranking_as_rows,
    ranking_candidates_as_columns,
    zipf_cum_weights,
)
from ctrkit.export import PackedLayout
from service.decoding import Decoder
from service.features import parse_features
from service.schemas import build_schemas

SPEC = {
    "format_version": 1,
    "model": {"name": "m", "version": 1, "outputs": ["ctr"]},
    "features": [
        {"name": "C1", "kind": "sparse", "dtype": "string", "vocabulary_size": 1000, "use_hash": True,
         "vocabulary": None, "default": ""},
        {"name": "city", "kind": "sparse", "dtype": "string", "vocabulary_size": 4, "use_hash": False,
         "vocabulary": ["paris", "lyon", "nice"], "default": None},
        {"name": "user_id", "kind": "sparse", "dtype": "int32", "vocabulary_size": 37, "use_hash": False,
         "vocabulary": None, "default": None},
        {"name": "I1", "kind": "dense", "dtype": "float32", "dimension": 1, "default": None},
        {"name": "emb", "kind": "dense", "dtype": "float32", "dimension": 3, "default": None},
        {"name": "genres", "kind": "varlen", "dtype": "string", "vocabulary_size": 50, "use_hash": True,
         "vocabulary": None, "maxlen": 4, "combiner": "mean", "length_name": "genres_len", "weight_name": None,
         "default": []},
        {"name": "genres_len", "kind": "length", "dtype": "int32", "length_of": "genres", "default": None},
        {"name": "tags_w", "kind": "weight", "dtype": "float32", "maxlen": 3, "weight_of": "tags", "default": None},
        {"name": "tags", "kind": "varlen", "dtype": "int64", "vocabulary_size": 20, "use_hash": False,
         "vocabulary": None, "maxlen": 3, "combiner": "sum", "length_name": None, "weight_name": "tags_w",
         "default": []},
    ],
}


@pytest.mark.parametrize("form", ["rows", "columns"])
def test_payloads_pass_the_service_checks(form):
    generator = RequestGenerator(SPEC, seed=3)
    features = parse_features(SPEC)
    decoder = Decoder(features, PackedLayout.from_entries(SPEC["features"]), build_schemas("m", 1, features, ["ctr"], 1000))
    body = generator.body(300, form, model="m")
    payload = json.loads(body)
    assert payload["model"] == "m"
    decoded = decoder.decode(body)
    columns = decoder.layout.unpack(decoded.packed)
    assert decoded.rows == 300 and decoded.model == "m"
    assert columns["user_id"].min() >= 0 and columns["user_id"].max() < 37
    assert set(columns["city"]) <= {"paris", "lyon", "nice"}
    assert columns["emb"].shape == (300, 3)
    assert columns["genres"].shape == (300, 4) and columns["tags_w"].shape == (300, 3)
    assert (columns["genres_len"] >= 1).all() and (columns["genres_len"] <= 4).all()
    rows = payload.get("instances") or [dict(zip(payload["inputs"], r)) for r in zip(*payload["inputs"].values())]
    assert all(len(row["tags_w"]) == len(row["tags"]) for row in rows)
    assert all("genres_len" not in row for row in rows)  # the service derives lengths


def test_categorical_values_follow_zipf():
    spec = {"features": [{"name": "C1", "kind": "sparse", "dtype": "string", "vocabulary_size": 10_000,
                          "use_hash": True, "vocabulary": None, "default": None}]}
    values = RequestGenerator(spec, seed=0, zipf_exponent=1.1, missing_rate=0.0).columns(60_000)["C1"]
    counts = [c for _, c in Counter(values).most_common()]
    harmonic = zipf_cum_weights(20_000, 1.1)[-1]
    assert counts[0] / 60_000 == pytest.approx(1 / harmonic, rel=0.1)
    assert counts[0] / counts[1] == pytest.approx(2 ** 1.1, rel=0.15)
    assert counts[0] / counts[9] == pytest.approx(10 ** 1.1, rel=0.25)
    uniform = RequestGenerator(spec, seed=0, zipf_exponent=0.0, missing_rate=0.0).columns(60_000)["C1"]
    assert Counter(uniform).most_common(1)[0][1] < 30


def test_missing_strings_and_determinism():
    spec = {"features": [SPEC["features"][0]]}
    values = RequestGenerator(spec, seed=1, missing_rate=0.1).columns(20_000)["C1"]
    assert values.count("") / 20_000 == pytest.approx(0.1, abs=0.015)
    assert RequestGenerator(SPEC, seed=5).body(20, "rows") == RequestGenerator(SPEC, seed=5).body(20, "rows")
    assert RequestGenerator(SPEC, seed=5).body(20, "rows") != RequestGenerator(SPEC, seed=6).body(20, "rows")


def test_rows_option_and_argument_checks():
    assert parse_rows_option("100") == (100, 100)
    assert parse_rows_option("1-200") == (1, 200)
    for bad in ("0", "5-2", "x", "1-"):
        with pytest.raises(ValueError, match="rows per request"):
            parse_rows_option(bad)
    with pytest.raises(ValueError, match="form"):
        RequestGenerator(SPEC).payload(3, "table")
    with pytest.raises(ValueError, match="no features"):
        RequestGenerator({"features": []})


def test_context_features_take_the_first_half_of_each_kind():
    spec = {"features": [{"name": f"C{i}", "kind": "sparse"} for i in range(1, 27)]
            + [{"name": f"I{i}", "kind": "dense"} for i in range(1, 14)]}
    assert context_features(spec) == [f"C{i}" for i in range(1, 14)] + [f"I{i}" for i in range(1, 8)]
    # lists keep their weights beside them; length inputs are never sent
    context = context_features(SPEC)
    assert set(context) == {"C1", "city", "I1", "genres"}
    assert "tags" not in context and "tags_w" not in context and "genres_len" not in context


def test_ranking_payload_and_its_rows():
    generator = RequestGenerator(SPEC, seed=2)
    context = context_features(SPEC)
    payload = generator.ranking_payload(7, context, model="m")
    assert set(payload) == {"model", "context", "candidates"}
    assert set(payload["context"]) == set(context)
    assert len(payload["candidates"]) == 7
    assert all(set(c) == set(generator.names) - set(context) for c in payload["candidates"])
    rows = ranking_as_rows(payload)
    assert rows["model"] == "m" and len(rows["instances"]) == 7
    for row, candidate in zip(rows["instances"], payload["candidates"]):
        assert row == {**payload["context"], **candidate}
    # both are valid requests for the service, scoring the same values
    features = parse_features(SPEC)
    decoder = Decoder(features, PackedLayout.from_entries(SPEC["features"]), build_schemas("m", 1, features, ["ctr"], 100))
    columnar = ranking_candidates_as_columns(payload)
    assert columnar["model"] == "m" and columnar["context"] == payload["context"]
    assert all(len(values) == 7 for values in columnar["candidates"].values())
    uneven = {**payload, "candidates": [payload["candidates"][0], {"C1": "x"}]}
    with pytest.raises(ValueError, match="same features"):
        ranking_candidates_as_columns(uneven)
    ranking, merged = decoder.decode(json.dumps(payload).encode()), decoder.decode(json.dumps(rows).encode())
    by_columns = decoder.decode(json.dumps(columnar).encode())
    assert ranking.rows == merged.rows == by_columns.rows == 7
    for group, matrix in ranking.packed.items():
        np.testing.assert_array_equal(matrix, merged.packed[group])
        np.testing.assert_array_equal(matrix, by_columns.packed[group])
    with pytest.raises(ValueError, match="not in the spec"):
        generator.ranking_payload(3, ["nope"])
