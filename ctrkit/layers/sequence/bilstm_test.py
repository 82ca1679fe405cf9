import keras
import numpy as np
import pytest

from ctrkit.layers.sequence.bilstm import BiLSTM
from ctrkit.layers.testing import assert_config_roundtrip, assert_saved_model_roundtrip

RNG = np.random.default_rng(8)
X = RNG.normal(size=(2, 5, 4)).astype("float32")


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def numpy_lstm(x, kernel, recurrent, bias, backwards=False):
    """Keras gate order i, f, c, o; outputs in input time order."""
    units = recurrent.shape[0]
    steps = range(x.shape[1] - 1, -1, -1) if backwards else range(x.shape[1])
    out = np.zeros(x.shape[:2] + (units,))
    for b in range(x.shape[0]):
        h, c = np.zeros(units), np.zeros(units)
        for t in steps:
            z = x[b, t] @ kernel + h @ recurrent + bias
            i, f, g, o = np.split(z, 4)
            c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
            h = sigmoid(o) * np.tanh(c)
            out[b, t] = h
    return out


def built(merge_mode, **kwargs):
    layer = BiLSTM(4, merge_mode=merge_mode, **kwargs)
    layer.build(X.shape)
    return layer


def test_single_layer_matches_numpy():
    layer = built(None, layers=1)
    fw, bw = (keras.ops.convert_to_numpy(o) for o in layer(X))
    np.testing.assert_allclose(fw, numpy_lstm(X, *layer.fw_lstm[0].get_weights()), atol=1e-5)
    np.testing.assert_allclose(
        bw, numpy_lstm(X, *layer.bw_lstm[0].get_weights(), backwards=True), atol=1e-5
    )


def test_directions_are_causal_in_their_own_order():
    layer = built(None)
    changed = X.copy()
    changed[:, 2] += 1.0
    fw, bw = (keras.ops.convert_to_numpy(o) for o in layer(X))
    fw2, bw2 = (keras.ops.convert_to_numpy(o) for o in layer(changed))
    np.testing.assert_allclose(fw2[:, :2], fw[:, :2], atol=1e-6)
    np.testing.assert_allclose(bw2[:, 3:], bw[:, 3:], atol=1e-6)
    assert not np.allclose(fw2[:, 2:], fw[:, 2:]) and not np.allclose(bw2[:, :3], bw[:, :3])


@pytest.mark.parametrize(
    "mode,combine",
    [
        ("fw", lambda f, b: f),
        ("bw", lambda f, b: b),
        ("sum", lambda f, b: f + b),
        ("mul", lambda f, b: f * b),
        ("ave", lambda f, b: (f + b) / 2),
        ("concat", lambda f, b: np.concatenate([f, b], -1)),
    ],
)
def test_merge_modes(mode, combine):
    both = built(None)
    layer = built(mode)
    layer.set_weights(both.get_weights())
    fw, bw = (keras.ops.convert_to_numpy(o) for o in both(X))
    out = keras.ops.convert_to_numpy(layer(X))
    np.testing.assert_allclose(out, combine(fw, bw), atol=1e-6)
    assert layer.compute_output_shape(X.shape) == out.shape


def test_residual_layers_add_their_inputs():
    plain = built(None, layers=1)
    residual = built(None, layers=1, res_layers=1)
    residual.set_weights(plain.get_weights())
    fw, bw = (keras.ops.convert_to_numpy(o) for o in plain(X))
    rfw, rbw = (keras.ops.convert_to_numpy(o) for o in residual(X))
    np.testing.assert_allclose(rfw, fw + X, atol=1e-6)
    np.testing.assert_allclose(rbw, bw + X, atol=1e-6)


def test_masked_padding_equals_unpadded_prefix():
    ids_in = keras.Input((5,), dtype="int32")
    embedding = keras.layers.Embedding(9, 4, mask_zero=True)
    layer = BiLSTM(4, layers=2, res_layers=1, merge_mode="concat")
    model = keras.Model(ids_in, layer(embedding(ids_in)))
    padded = model.predict(np.array([[3, 1, 4, 0, 0]], "int32"), verbose=0)
    table = keras.ops.convert_to_numpy(embedding.embeddings)
    prefix = keras.ops.convert_to_numpy(layer(table[np.array([[3, 1, 4]])]))
    np.testing.assert_allclose(padded[:, :3], prefix, atol=1e-5)


def test_dropout_only_when_training():
    layer = built("ave", dropout_rate=0.5)
    a = keras.ops.convert_to_numpy(layer(X))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(X)), a)
    assert not np.allclose(keras.ops.convert_to_numpy(layer(X, training=True)), a)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"units": 0},
        {"units": 4, "layers": 0},
        {"units": 4, "res_layers": -1},
        {"units": 4, "res_layers": 3},
        {"units": 4, "dropout_rate": 1.0},
        {"units": 4, "merge_mode": "max"},
    ],
)
def test_argument_validation(kwargs):
    with pytest.raises(ValueError, match=list(kwargs)[-1]):
        BiLSTM(**kwargs)


def test_residual_first_layer_needs_matching_units():
    with pytest.raises(ValueError, match="units"):
        BiLSTM(3, layers=1, res_layers=1)(X)


def test_serialization():
    layer = BiLSTM(4, layers=2, res_layers=1, merge_mode="concat")
    assert_config_roundtrip(layer)
    assert_config_roundtrip(BiLSTM(4, merge_mode=None))
    assert_saved_model_roundtrip(layer, X, atol=1e-5)
