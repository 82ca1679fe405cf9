import keras
import numpy as np
import pytest

from ctrkit.layers.sequence.sequence_pooling_layer import SequencePoolingLayer
from ctrkit.layers.sequence.weighted_sequence_layer import WeightedSequenceLayer
from ctrkit.layers.testing import assert_config_roundtrip, assert_saved_model_roundtrip

RNG = np.random.default_rng(1)
VALUES = RNG.normal(size=(3, 4, 2)).astype("float32")
LENGTHS = np.array([[2], [0], [4]], dtype="int32")
WEIGHTS = RNG.uniform(0.1, 2.0, size=(3, 4, 1)).astype("float32")


def numpy_weighted(values, lengths, weights, normalize):
    out = np.zeros_like(values)
    for i, n in enumerate(lengths[:, 0]):
        w = weights[i, :n, 0]
        if normalize and n:
            w = np.exp(w - w.max())
            w = w / w.sum()
        out[i, :n] = values[i, :n] * w[:, None]
    return out


@pytest.mark.parametrize("normalize", [True, False])
def test_matches_numpy(normalize):
    layer = WeightedSequenceLayer(weight_normalization=normalize)
    out = keras.ops.convert_to_numpy(layer([VALUES, LENGTHS, WEIGHTS]))
    np.testing.assert_allclose(out, numpy_weighted(VALUES, LENGTHS, WEIGHTS, normalize), atol=1e-6)
    # Padded rows are zero, including the whole empty sequence.
    np.testing.assert_array_equal(out[0, 2:], 0.0)
    np.testing.assert_array_equal(out[1], 0.0)


@pytest.mark.parametrize("normalize", [True, False])
def test_padded_equals_unpadded_prefix(normalize):
    layer = WeightedSequenceLayer(weight_normalization=normalize)
    noisy_w = WEIGHTS.copy()
    noisy_w[0, 2:] = 50.0
    padded = keras.ops.convert_to_numpy(layer([VALUES, LENGTHS, noisy_w]))
    prefix = layer([VALUES[:1, :2], np.array([[2]], "int32"), WEIGHTS[:1, :2]])
    np.testing.assert_allclose(padded[0, :2], keras.ops.convert_to_numpy(prefix)[0], atol=1e-6)


def test_two_dimensional_weights():
    layer = WeightedSequenceLayer(weight_normalization=False)
    out = layer([VALUES, LENGTHS, WEIGHTS[..., 0]])
    expected = numpy_weighted(VALUES, LENGTHS, WEIGHTS, False)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out), expected, atol=1e-6)


def test_masked_mode_matches_length_mode_and_keeps_mask():
    ids_in = keras.Input(shape=(4,), dtype="int32")
    w_in = keras.Input(shape=(4, 1))
    embedding = keras.layers.Embedding(10, 2, mask_zero=True)
    emb = embedding(ids_in)
    weighted = WeightedSequenceLayer(supports_masking=True)([emb, w_in])
    # The mask is passed on: a masked pooling layer downstream accepts the output.
    pooled = SequencePoolingLayer("sum", supports_masking=True)(weighted)
    model = keras.Model([ids_in, w_in], [weighted, pooled])

    ids = np.array([[4, 2, 0, 0], [0, 0, 0, 0], [1, 2, 3, 4]], "int32")
    lengths = (ids != 0).sum(1, keepdims=True).astype("int32")
    table = keras.ops.convert_to_numpy(embedding.embeddings)
    expected = numpy_weighted(table[ids], lengths, WEIGHTS, True)
    out, out_pooled = model.predict([ids, WEIGHTS], verbose=0)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    np.testing.assert_allclose(out_pooled, expected.sum(1, keepdims=True), atol=1e-6)


def test_masked_mode_without_mask_raises():
    with pytest.raises(ValueError, match="mask"):
        WeightedSequenceLayer(supports_masking=True)([VALUES, WEIGHTS])


def test_wrong_number_of_inputs_raises():
    with pytest.raises(ValueError, match="seq_weight"):
        WeightedSequenceLayer()([VALUES, WEIGHTS])


@pytest.mark.parametrize("kwargs", [{"weight_normalization": 1}, {"supports_masking": None}])
def test_argument_validation(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        WeightedSequenceLayer(**kwargs)


def test_output_shape():
    layer = WeightedSequenceLayer()
    assert layer.compute_output_shape([(None, 4, 2), (None, 1), (None, 4, 1)]) == (None, 4, 2)


@pytest.mark.parametrize("normalize", [True, False])
def test_serialization(normalize):
    assert_config_roundtrip(WeightedSequenceLayer(normalize, supports_masking=True))
    out = assert_saved_model_roundtrip(
        WeightedSequenceLayer(normalize), [VALUES, LENGTHS, WEIGHTS]
    )
    np.testing.assert_allclose(out, numpy_weighted(VALUES, LENGTHS, WEIGHTS, normalize), atol=1e-6)
