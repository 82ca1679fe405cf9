import keras
import numpy as np
import pytest

from ctrkit.layers.sequence.position_encoding import PositionEncoding
from ctrkit.layers.testing import assert_config_roundtrip, assert_saved_model_roundtrip

X = np.random.default_rng(4).normal(size=(2, 5, 4)).astype("float32")


def numpy_table(length, dim):
    table = np.array(
        [[pos / 10000 ** (2 * (i // 2) / dim) for i in range(dim)] for pos in range(length)]
    )
    table[:, 0::2] = np.sin(table[:, 0::2])
    table[:, 1::2] = np.cos(table[:, 1::2])
    return table


@pytest.mark.parametrize("scale", [True, False])
@pytest.mark.parametrize("zero_pad", [True, False])
def test_matches_numpy(scale, zero_pad):
    table = numpy_table(5, 4)
    if zero_pad:
        table[0] = 0.0
    expected = X + table[None] * (2.0 if scale else 1.0)
    out = PositionEncoding(scale=scale, zero_pad=zero_pad)(X)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out), expected, atol=1e-6)


def test_shorter_sequence_uses_leading_positions():
    layer = PositionEncoding()
    full = keras.ops.convert_to_numpy(layer(X))
    short = keras.ops.convert_to_numpy(layer(X[:, :3]))
    np.testing.assert_allclose(short, full[:, :3], atol=1e-6)


def test_trainable_flag_and_mask_propagation():
    frozen = PositionEncoding(pos_embedding_trainable=False)
    frozen.build((None, 5, 4))
    assert frozen.trainable_weights == [] and len(frozen.non_trainable_weights) == 1
    trainable = PositionEncoding()
    trainable.build((None, 5, 4))
    assert len(trainable.trainable_weights) == 1

    ids = keras.Input((5,), dtype="int32")
    encoded = PositionEncoding()(keras.layers.Embedding(9, 4, mask_zero=True)(ids))
    pooled = keras.layers.GlobalAveragePooling1D()(encoded)
    model = keras.Model(ids, [encoded, pooled])
    data = np.array([[1, 2, 0, 0, 0]], "int32")
    seq, avg = model.predict(data, verbose=0)
    # GlobalAveragePooling1D only averages unmasked steps when the mask arrives.
    np.testing.assert_allclose(avg, seq[:, :2].mean(1), atol=1e-6)


@pytest.mark.parametrize("kwargs", [{"zero_pad": 0}, {"scale": "yes"}, {"pos_embedding_trainable": None}])
def test_argument_validation(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        PositionEncoding(**kwargs)


def test_unknown_length_raises():
    with pytest.raises(ValueError, match="known"):
        PositionEncoding()(keras.Input((None, 4)))


def test_serialization():
    layer = PositionEncoding(zero_pad=True)
    assert_config_roundtrip(layer)
    layer.build(X.shape)
    # A trained table, not the initial one, must come back from the file.
    layer.lookup_table.assign(np.random.default_rng(5).normal(size=(5, 4)).astype("float32"))
    out = assert_saved_model_roundtrip(layer, X)
    np.testing.assert_allclose(out, X + 2.0 * keras.ops.convert_to_numpy(layer.lookup_table), atol=1e-6)
