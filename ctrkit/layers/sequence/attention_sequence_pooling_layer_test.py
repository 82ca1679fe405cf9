import keras
import numpy as np
import pytest

from ctrkit.layers.sequence.attention_sequence_pooling_layer import AttentionSequencePoolingLayer
from ctrkit.layers.testing import assert_config_roundtrip, assert_saved_model_roundtrip

RNG = np.random.default_rng(2)
QUERY = RNG.normal(size=(3, 1, 4)).astype("float32")
KEYS = RNG.normal(size=(3, 5, 4)).astype("float32")
LENGTHS = np.array([[2], [5], [0]], dtype="int32")


def raw_scores(layer, query, keys):
    """The local activation unit's scores, (B, 1, T)."""
    return np.transpose(keras.ops.convert_to_numpy(layer.local_att([query, keys])), (0, 2, 1))


def numpy_pool(raw, keys, lengths, normalize):
    weights = np.zeros_like(raw)
    for i, n in enumerate(lengths[:, 0]):
        s = raw[i, 0, :n]
        if normalize and n:
            s = np.exp(s - s.max())
            s = s / s.sum()
        weights[i, 0, :n] = s
    return weights, weights @ keys


@pytest.mark.parametrize("normalize", [False, True])
def test_matches_numpy_and_masks_padded_keys(normalize):
    layer = AttentionSequencePoolingLayer(weight_normalization=normalize)
    out = keras.ops.convert_to_numpy(layer([QUERY, KEYS, LENGTHS]))
    scorer = AttentionSequencePoolingLayer(weight_normalization=normalize, return_score=True)
    scorer.build([QUERY.shape, KEYS.shape, LENGTHS.shape])
    scorer.set_weights(layer.get_weights())
    scores = keras.ops.convert_to_numpy(scorer([QUERY, KEYS, LENGTHS]))

    weights, pooled = numpy_pool(raw_scores(layer, QUERY, KEYS), KEYS, LENGTHS, normalize)
    np.testing.assert_allclose(scores, weights, atol=1e-6)
    np.testing.assert_allclose(out, pooled, atol=1e-5)
    np.testing.assert_array_equal(scores[0, 0, 2:], 0.0)
    np.testing.assert_array_equal(out[2], 0.0)
    if normalize:
        np.testing.assert_allclose(scores[:2].sum(-1), 1.0, atol=1e-6)


@pytest.mark.parametrize("normalize", [False, True])
def test_padded_equals_unpadded_prefix(normalize):
    layer = AttentionSequencePoolingLayer(weight_normalization=normalize)
    noisy = KEYS.copy()
    noisy[0, 2:] = 100.0
    padded = keras.ops.convert_to_numpy(layer([QUERY, noisy, LENGTHS]))
    prefix = layer([QUERY[:1], KEYS[:1, :2], np.array([[2]], "int32")])
    np.testing.assert_allclose(padded[0], keras.ops.convert_to_numpy(prefix)[0], atol=1e-5)


def test_masked_mode_equals_length_mode():
    item_in = keras.Input(shape=(1,), dtype="int32")
    hist_in = keras.Input(shape=(5,), dtype="int32")
    embedding = keras.layers.Embedding(20, 4, mask_zero=True)
    query = embedding(item_in)
    masked = AttentionSequencePoolingLayer(weight_normalization=True, supports_masking=True)
    model = keras.Model([item_in, hist_in], masked([query, embedding(hist_in)]))

    items = np.array([[3], [7]], "int32")
    hist = np.array([[1, 2, 0, 0, 0], [5, 6, 7, 8, 0]], "int32")
    table = keras.ops.convert_to_numpy(embedding.embeddings)
    unmasked = AttentionSequencePoolingLayer(weight_normalization=True)
    lengths = (hist != 0).sum(1, keepdims=True).astype("int32")
    unmasked.build([(None, 1, 4), (None, 5, 4), (None, 1)])
    unmasked.set_weights(masked.get_weights())
    expected = unmasked([table[items], table[hist], lengths])
    np.testing.assert_allclose(
        model.predict([items, hist], verbose=0), keras.ops.convert_to_numpy(expected), atol=1e-5
    )


def test_masked_mode_without_mask_raises():
    with pytest.raises(ValueError, match="mask"):
        AttentionSequencePoolingLayer(supports_masking=True)([QUERY, KEYS])


@pytest.mark.parametrize(
    "inputs",
    [
        [QUERY, KEYS],
        [KEYS, KEYS, LENGTHS],
        [QUERY, KEYS[..., :3], LENGTHS],
    ],
)
def test_bad_inputs_raise(inputs):
    with pytest.raises(ValueError):
        AttentionSequencePoolingLayer()(inputs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"att_hidden_units": (80, 0)},
        {"att_hidden_units": "80"},
        {"weight_normalization": 1},
        {"return_score": "no"},
        {"supports_masking": None},
    ],
)
def test_argument_validation(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        AttentionSequencePoolingLayer(**kwargs)


def test_output_shapes():
    shapes = [(None, 1, 4), (None, 5, 4), (None, 1)]
    assert AttentionSequencePoolingLayer().compute_output_shape(shapes) == (None, 1, 4)
    assert AttentionSequencePoolingLayer(return_score=True).compute_output_shape(shapes) == (
        None,
        1,
        5,
    )


def test_serialization():
    assert_config_roundtrip(AttentionSequencePoolingLayer((8, 4), "dice", return_score=True))
    layer = AttentionSequencePoolingLayer((8, 4), "dice", weight_normalization=True)
    assert_config_roundtrip(layer)
    assert_saved_model_roundtrip(layer, [QUERY, KEYS, LENGTHS], atol=1e-5)


def test_takes_the_manuals_spelling_of_supports_masking():
    layer = AttentionSequencePoolingLayer(support_masking=True)
    assert layer.get_config()["supports_masking"] is True
    assert AttentionSequencePoolingLayer((80, 40), "sigmoid", False, False, True).get_config()["supports_masking"]
    with pytest.raises(ValueError, match="`supports_masking` must be a bool"):
        AttentionSequencePoolingLayer(support_masking="yes")
