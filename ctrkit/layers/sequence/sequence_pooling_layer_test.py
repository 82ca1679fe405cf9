import os
import tempfile
import warnings

import keras
import numpy as np
import pytest

from ctrkit.layers.sequence.sequence_pooling_layer import SequencePoolingLayer
from ctrkit.layers.testing import assert_config_roundtrip, assert_saved_model_roundtrip

RNG = np.random.default_rng(0)
VALUES = RNG.normal(size=(4, 5, 3)).astype("float32")
LENGTHS = np.array([[0], [2], [5], [1]], dtype="int32")


def numpy_pool(values, lengths, mode):
    out = np.zeros((values.shape[0], 1, values.shape[2]), "float32")
    for i, n in enumerate(lengths[:, 0]):
        if n == 0:
            continue
        valid = values[i, :n]
        out[i, 0] = {"sum": valid.sum(0), "mean": valid.mean(0), "max": valid.max(0)}[mode]
    return out


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_matches_numpy_and_ignores_padding(mode):
    layer = SequencePoolingLayer(mode)
    out = keras.ops.convert_to_numpy(layer([VALUES, LENGTHS]))
    np.testing.assert_allclose(out, numpy_pool(VALUES, LENGTHS, mode), atol=1e-6)

    # Garbage in the padded positions must not change anything.
    noisy = VALUES.copy()
    for i, n in enumerate(LENGTHS[:, 0]):
        noisy[i, n:] = 1e6
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer([noisy, LENGTHS])), out, atol=1e-6)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_padded_equals_unpadded_prefix(mode):
    layer = SequencePoolingLayer(mode)
    padded = keras.ops.convert_to_numpy(layer([VALUES, LENGTHS]))
    for i, n in enumerate(LENGTHS[:, 0]):
        if n == 0:
            np.testing.assert_array_equal(padded[i], 0.0)
            continue
        prefix = layer([VALUES[i : i + 1, :n], np.array([[n]], "int32")])
        np.testing.assert_allclose(keras.ops.convert_to_numpy(prefix)[0], padded[i], atol=1e-6)


def test_all_negative_max_is_not_zero_clipped():
    values = -np.arange(1, 7, dtype="float32").reshape(1, 3, 2)
    out = SequencePoolingLayer("max")([values, np.array([[2]], "int32")])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out), [[[-1.0, -2.0]]])


def _masked_model(mode):
    ids = keras.Input(shape=(5,), dtype="int32")
    emb = keras.layers.Embedding(10, 3, mask_zero=True)(ids)
    pooled = SequencePoolingLayer(mode, supports_masking=True)(emb)
    return keras.Model(ids, pooled)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_masked_mode_equals_length_mode(mode):
    model = _masked_model(mode)
    ids = np.array([[3, 1, 0, 0, 0], [0, 0, 0, 0, 0], [1, 2, 3, 4, 5]], "int32")
    lengths = (ids != 0).sum(1, keepdims=True).astype("int32")
    table = keras.ops.convert_to_numpy(model.get_layer(index=1).embeddings)
    expected = numpy_pool(table[ids], lengths, mode)
    np.testing.assert_allclose(model.predict(ids, verbose=0), expected, atol=1e-6)


def test_masked_mode_saved_model_roundtrip():
    model = _masked_model("mean")
    ids = np.array([[3, 1, 0, 0, 0], [9, 8, 7, 0, 0]], "int32")
    expected = model.predict(ids, verbose=0)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.keras")
        model.save(path)
        reloaded = keras.models.load_model(path)
    np.testing.assert_allclose(reloaded.predict(ids, verbose=0), expected, atol=1e-6)


def test_masked_mode_without_mask_raises():
    with pytest.raises(ValueError, match="mask"):
        SequencePoolingLayer(supports_masking=True)(VALUES)


def test_unmasked_mode_needs_two_inputs():
    with pytest.raises(ValueError, match="seq_len"):
        SequencePoolingLayer()(VALUES)


@pytest.mark.parametrize("kwargs", [{"mode": "avg"}, {"supports_masking": "yes"}])
def test_argument_validation(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        SequencePoolingLayer(**kwargs)


def test_output_shape():
    layer = SequencePoolingLayer("sum")
    assert layer.compute_output_shape([(None, 5, 3), (None, 1)]) == (None, 1, 3)
    symbolic = layer([keras.Input((5, 3)), keras.Input((1,), dtype="int32")])
    assert tuple(symbolic.shape) == (None, 1, 3)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_serialization(mode):
    assert_config_roundtrip(SequencePoolingLayer(mode, supports_masking=True))
    out = assert_saved_model_roundtrip(SequencePoolingLayer(mode), [VALUES, LENGTHS])
    np.testing.assert_allclose(out, numpy_pool(VALUES, LENGTHS, mode), atol=1e-6)


def test_length_mode_accepts_masked_values_without_warning():
    ids_in = keras.Input((5,), dtype="int32")
    len_in = keras.Input((1,), dtype="int32")
    embedding = keras.layers.Embedding(10, 3, mask_zero=True)
    emb = embedding(ids_in)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pooled = SequencePoolingLayer("sum")([emb, len_in])
    model = keras.Model([ids_in, len_in], pooled)
    ids = np.array([[3, 1, 2, 0, 0]], "int32")
    table = keras.ops.convert_to_numpy(embedding.embeddings)
    # The length input rules, not the mask: only the first position counts.
    np.testing.assert_allclose(
        model.predict([ids, np.array([[1]], "int32")], verbose=0), table[[[3]]], atol=1e-6
    )
