"""Typed tensors into packed matrices: the same matrices and the same errors as the JSON decoder."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from conftest import DEFAULTS, feature_columns, make_rows

from ctrkit.export import PackedLayout, feature_entries
from service.decoding import Decoder
from service.errors import PayloadError
from service.features import parse_features
from service.schemas import build_schemas
from service.tensors import Tensor, TensorDecoder, split_bytes


@pytest.fixture(scope="module")
def decoders():
    entries = feature_entries(feature_columns())
    for e in entries:
        if e["name"] in DEFAULTS:
            e["default"] = DEFAULTS[e["name"]]
    features = parse_features({"features": entries})
    layout = PackedLayout.from_entries(entries)
    json_decoder = Decoder(features, layout, build_schemas("deepfm", 1, features, ["ctr"], 64))
    return json_decoder, TensorDecoder(features, layout, max_rows=64)


def padded(values, width, pad):
    return [list(v) + [pad] * (width - len(v)) for v in values]


def tensors_of(rows, *, drop=(), **override):
    """The tensors a binary client sends for ``rows`` (strings as UTF-8 bytes, lists padded)."""
    n = len(rows)
    col = {name: [row[name] for row in rows] for name in rows[0]}
    enc = lambda values: np.array([v.encode() for v in values], dtype=object)  # noqa: E731
    out = {
        "C1": Tensor("C1", "BYTES", (n,), enc(col["C1"])),
        "C2": Tensor("C2", "BYTES", (n,), enc(col["C2"])),
        "user_id": Tensor("user_id", "INT32", (n,), np.array(col["user_id"], dtype=np.int32)),
        "item_id": Tensor("item_id", "INT64", (n, 1), np.array(col["item_id"], dtype=np.int64)),
        "I1": Tensor("I1", "FP32", (n,), np.array(col["I1"], dtype=np.float32)),
        "I2": Tensor("I2", "FP64", (n,), np.array(col["I2"], dtype=np.float64)),
        "emb": Tensor("emb", "FP32", (n, 3), np.array(col["emb"], dtype=np.float32).ravel()),
        "genres": Tensor("genres", "BYTES", (n, 5),
                         np.array([v.encode() for r in padded(col["genres"], 5, "") for v in r], dtype=object)),
        "hist": Tensor("hist", "INT64", (n, 4), np.array(padded(col["hist"], 4, 0), dtype=np.int64).ravel()),
        "tags": Tensor("tags", "INT32", (n, 3), np.array(padded(col["tags"], 3, 0), dtype=np.int32).ravel()),
        "tags_w": Tensor("tags_w", "FP32", (n, 3), np.array(padded(col["tags_w"], 3, 0.0), dtype=np.float32).ravel()),
    }
    out.update(override)
    return [t for name, t in out.items() if name not in drop]


def as_text(matrix):
    return [[v.decode() if isinstance(v, bytes) else v for v in row] for row in matrix.tolist()]


def test_tensors_build_the_matrices_the_json_decoder_builds(decoders):
    json_decoder, tensor_decoder = decoders
    rows = make_rows(np.random.default_rng(3), 17)
    for row in rows:  # trailing padding ids would be read as padding: keep ids of lists non-zero
        row["hist"] = [h or 1 for h in row["hist"]]
        row["tags"] = [t or 1 for t in row["tags"]]
        row["tags_w"] = [w or 0.5 for w in row["tags_w"]]
    expected = json_decoder.decode_rows(rows)
    got = tensor_decoder.decode(tensors_of(rows))
    assert got.rows == 17
    assert as_text(got.packed["strings"]) == as_text(expected.packed["strings"])
    np.testing.assert_array_equal(got.packed["ints"], expected.packed["ints"])
    np.testing.assert_allclose(got.packed["floats"], expected.packed["floats"], rtol=1e-7)


def test_defaults_fill_features_left_out_and_lengths_are_derived(decoders):
    json_decoder, tensor_decoder = decoders
    rows = make_rows(np.random.default_rng(4), 5, with_defaults=False)
    for row in rows:
        row["hist"] = [h or 1 for h in row["hist"]]
    expected = json_decoder.decode_rows(rows)
    got = tensor_decoder.decode(tensors_of([{**r, "C2": "", "I2": 0.0} for r in rows], drop=("C2", "I2")))
    assert as_text(got.packed["strings"]) == as_text(expected.packed["strings"])
    np.testing.assert_array_equal(got.packed["ints"], expected.packed["ints"])


def test_a_given_length_is_checked_against_its_list(decoders):
    _, tensor_decoder = decoders
    rows = make_rows(np.random.default_rng(5), 4)
    rows[2]["hist"] = [7, 8, 9]
    ok = tensors_of(rows, hist_len=Tensor("hist_len", "INT32", (4,), np.array([4, 4, 3, 4], dtype=np.int32)))
    layout = tensor_decoder.layout.fields["hist_len"]
    assert tensor_decoder.decode(ok).packed["ints"][:, layout.offset].tolist() == [4, 4, 3, 4]
    short = tensors_of(rows, hist_len=Tensor("hist_len", "INT32", (4,), np.array([4, 4, 2, 4], dtype=np.int32)))
    with pytest.raises(PayloadError, match=r"row 2, feature 'hist_len': length 2 differs from the 3 values of 'hist'"):
        tensor_decoder.decode(short)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda t: t.values.__setitem__(3, 120), r"row 3, feature 'user_id': id 120 is outside \[0, 120\)"),
        (lambda t: t.values.__setitem__(slice(None), -1),
         r"row 0, feature 'user_id': id -1 is outside \[0, 120\) \(and 5 more rows\)"),
    ],
)
def test_ids_outside_their_range_name_feature_and_row(decoders, change, message):
    _, tensor_decoder = decoders
    tensors = tensors_of(make_rows(np.random.default_rng(6), 6))
    change(next(t for t in tensors if t.name == "user_id"))
    with pytest.raises(PayloadError, match=message):
        tensor_decoder.decode(tensors)


@pytest.mark.parametrize(
    "override, message",
    [
        ({"I1": Tensor("I1", "FP32", (3,), np.array([0.0, np.nan, 1.0], dtype=np.float32))},
         r"row 1, feature 'I1': value nan is not a finite number"),
        ({"I2": Tensor("I2", "FP64", (3,), np.array([0.0, 1.0, 1e300]))},
         r"row 2, feature 'I2': value 1e\+300 is outside the float32 range"),
        ({"emb": Tensor("emb", "FP32", (3, 3), np.array([0, 0, 0, 0, 0, np.inf, 0, 0, 0], dtype=np.float32))},
         r"row 1, feature 'emb': element 2: value inf is not a finite number"),
        ({"C1": Tensor("C1", "BYTES", (3,), np.array([b"a", b"b\xffc", b"c"], dtype=object))},
         r"row 1, feature 'C1': the string is not valid UTF-8 \(byte 0xff at character 1\)"),
        ({"hist": Tensor("hist", "INT64", (3, 6), np.array([1] * 5 + [0] + [0] * 12, dtype=np.int64))},
         r"row 0, feature 'hist': a list of 5 values is longer than maxlen 4"),
        ({"tags_w": Tensor("tags_w", "FP32", (3, 3), np.array([1, 1, 1] * 3, dtype=np.float32))},
         r"feature 'tags_w': 3 weights for the \d values of 'tags'"),
        ({"user_id": Tensor("user_id", "FP32", (3,), np.zeros(3, dtype=np.float32))},
         r"feature 'user_id': expected a int32 tensor, got FP32"),
        ({"emb": Tensor("emb", "FP32", (3, 2), np.zeros(6, dtype=np.float32))},
         r"feature 'emb': expected the shape \[3, 3\], got \[3, 2\]"),
        ({"item_id": Tensor("item_id", "INT64", (4,), np.zeros(4, dtype=np.int64))},
         r"feature 'item_id': tensor has 4 rows but 'C1' has 3"),
        ({"C1": Tensor("C1", "BYTES", (3,), np.array([b"a"], dtype=object))}, r"feature 'C1': 1 values for the shape \[3\]"),
        ({"user": Tensor("user", "INT32", (3,), np.zeros(3, dtype=np.int32))},
         r"feature 'user': unknown feature \(did you mean 'user_id'\?\)"),
    ],
)
def test_invalid_tensors_get_the_json_decoders_sentences(decoders, override, message):
    _, tensor_decoder = decoders
    rows = make_rows(np.random.default_rng(7), 3)
    for row in rows:
        row["tags"] = [1]
        row["tags_w"] = [0.5]
    with pytest.raises(PayloadError, match=message):
        tensor_decoder.decode(tensors_of(rows, **override))


def test_a_missing_required_feature_is_named(decoders):
    _, tensor_decoder = decoders
    with pytest.raises(PayloadError, match=r"feature 'user_id': missing required feature"):
        tensor_decoder.decode(tensors_of(make_rows(np.random.default_rng(8), 2), drop=("user_id",)))


def serialize(values):
    return b"".join(struct.pack("<I", len(v)) + v for v in values)


@pytest.mark.parametrize(
    "values",
    [
        [b"05db9164", b"", b"68fd1e64", b"", b""],
        [b"a\x00", b"\x00\x00\x00", b"", b"x" * 300, b"caf\xc3\xa9"],
        [b"\x00\x00\x00\x00" * 3, b"\x04\x00\x00\x00", b"z"],
        [b""] * 7,
    ],
)
def test_split_bytes_reads_every_element_exactly(values):
    counts = [2, len(values) - 2]
    found = split_bytes(serialize(values), counts)
    assert found is not None
    parts, text = found
    assert [list(p) for p in parts] == [values[:2], values[2:]]
    assert text is all(_valid(v) for v in values) or not text


def test_split_bytes_of_many_short_strings_is_exact():
    rng = np.random.default_rng(9)
    values = [bytes(rng.integers(0, 256, rng.integers(0, 12)).astype(np.uint8)) for _ in range(3000)]
    found = split_bytes(serialize(values), [1000, 2000])
    assert found is not None and list(found[0][0]) + list(found[0][1]) == values
    assert not found[1]  # random bytes are not UTF-8


def test_split_bytes_checks_each_tensors_size():
    values = [b"ab", b"c", b"def"]
    assert split_bytes(serialize(values), [1, 2], [6, 12]) is not None
    assert split_bytes(serialize(values), [2, 1], [6, 12]) is None


def test_split_bytes_checks_utf8_per_element():
    joined_valid = [b"ab\xc3", b"\xa9cd", b"ef"]  # "\xc3\xa9" only across two elements
    found = split_bytes(serialize(joined_valid), [3])
    assert found is not None and not found[1]
    found = split_bytes(serialize([b"caf\xc3\xa9", b"", b"ok"]), [3])
    assert found is not None and found[1]


@pytest.mark.parametrize("values", [[b"a\xc3", b"\xa9b"] * 3, [b"a\xc3", b"", b"\xa9b"]])
def test_split_bytes_checks_utf8_per_element_of_one_length(values):
    # elements of one length are read as one matrix: "\xc3\xa9" completed across two still fails
    found = split_bytes(serialize(values), [len(values)])
    assert found is not None and [bytes(v) for v in found[0][0]] == values and not found[1]
    found = split_bytes(serialize([b"ab", b"\xc3\xa9", b""]), [3])
    assert found is not None and found[1]


def _valid(value):
    try:
        value.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


@pytest.mark.parametrize("buffer, counts", [(b"\x05\x00\x00\x00abc", [1]), (serialize([b"ab", b"c"]) + b"\x00", [2]),
                                             (serialize([b"ab", b"c"]), [3]), (b"\x01", [1])])
def test_split_bytes_refuses_a_malformed_buffer(buffer, counts):
    assert split_bytes(buffer, counts) is None


def test_binary_strings_batch_with_json_strings(decoders):
    import tensorflow as tf

    json_decoder, tensor_decoder = decoders
    rows = make_rows(np.random.default_rng(10), 6)
    parts = split_bytes(serialize([r["C1"].encode() for r in rows]), [6])
    assert parts is not None and parts[0][0].dtype.kind == "S"  # fixed width: no Python object per string
    tensors = [t for t in tensors_of(rows) if t.name != "C1"] + [Tensor("C1", "BYTES", (6,), parts[0][0], parts[1])]
    binary = tensor_decoder.decode(tensors).packed["strings"]
    text = json_decoder.decode_rows(rows).packed["strings"]
    merged = tf.constant(np.concatenate([text, binary]))  # what the batcher hands the model
    assert merged.numpy().tolist()[:6] == merged.numpy().tolist()[6:]
