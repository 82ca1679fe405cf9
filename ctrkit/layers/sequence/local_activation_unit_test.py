import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest

from ctrkit.layers.sequence.local_activation_unit import LocalActivationUnit
from ctrkit.layers.testing import assert_config_roundtrip, assert_saved_model_roundtrip

RNG = np.random.default_rng(0)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _numpy_mlp(x, kernels, biases, hidden, last):
    for i, (w, b) in enumerate(zip(kernels, biases)):
        x = x @ w + b
        x = last(x) if i == len(kernels) - 1 else hidden(x)
    return x


def test_local_activation_unit_matches_numpy():
    query = RNG.normal(size=(2, 1, 4)).astype("float32")
    keys = RNG.normal(size=(2, 5, 4)).astype("float32")
    layer = LocalActivationUnit(hidden_units=(6, 3))
    layer.build([query.shape, keys.shape])
    layer.bias.assign(np.array([0.25], "float32"))
    for bias in layer.dnn.biases:
        bias.assign(RNG.normal(size=bias.shape).astype("float32"))
    out = keras.ops.convert_to_numpy(layer([query, keys]))

    queries = np.broadcast_to(query, keys.shape)
    att = np.concatenate([queries, keys, queries - keys, queries * keys], axis=-1)
    kernels = [keras.ops.convert_to_numpy(k) for k in layer.dnn.kernels]
    biases = [keras.ops.convert_to_numpy(b) for b in layer.dnn.biases]
    hidden = _numpy_mlp(att, kernels, biases, _sigmoid, _sigmoid)
    expected = hidden @ keras.ops.convert_to_numpy(layer.kernel) + 0.25
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    assert out.shape == (2, 5, 1)
    assert layer.compute_output_shape([(None, 1, 4), (None, 5, 4)]) == (None, 5, 1)


def test_local_activation_unit_without_hidden_layers_is_linear():
    query = RNG.normal(size=(3, 1, 2)).astype("float32")
    keys = RNG.normal(size=(3, 4, 2)).astype("float32")
    layer = LocalActivationUnit(hidden_units=())
    out = keras.ops.convert_to_numpy(layer([query, keys]))
    queries = np.broadcast_to(query, keys.shape)
    att = np.concatenate([queries, keys, queries - keys, queries * keys], axis=-1)
    np.testing.assert_allclose(out, att @ keras.ops.convert_to_numpy(layer.kernel), rtol=1e-5, atol=1e-6)


class _MaskAsOutput(keras.layers.Layer):
    """Returns the mask it receives, to observe mask propagation."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        return keras.ops.cast(mask, "float32")

    def compute_mask(self, inputs, mask=None):
        return None


def test_local_activation_unit_passes_keys_mask_on():
    item = keras.Input(shape=(1,), dtype="int32")
    history = keras.Input(shape=(4,), dtype="int32")
    embedding = keras.layers.Embedding(10, 3, mask_zero=True)
    scores = LocalActivationUnit(hidden_units=(4,))([embedding(item), embedding(history)])
    model = keras.Model([item, history], _MaskAsOutput()(scores))
    ids = np.array([[1, 2, 0, 0], [3, 4, 5, 0]], "int32")
    mask = model.predict([np.array([[1], [2]], "int32"), ids], verbose=0)
    np.testing.assert_array_equal(mask, (ids != 0).astype("float32"))


@pytest.mark.parametrize(
    "shapes",
    [
        [(None, 1, 4)],
        [(None, 1, 4), (None, 5)],
        [(None, 2, 4), (None, 5, 4)],
        [(None, 1, 4), (None, 5, 3)],
    ],
)
def test_local_activation_unit_rejects_bad_inputs(shapes):
    with pytest.raises(ValueError, match="LocalActivationUnit"):
        LocalActivationUnit().build(shapes)


def test_local_activation_unit_rejects_bad_arguments():
    with pytest.raises(ValueError, match="hidden_units"):
        LocalActivationUnit(hidden_units=(4, -1))
    with pytest.raises(ValueError, match="dropout_rate"):
        LocalActivationUnit(dropout_rate=-0.1)


def test_local_activation_unit_serialisation():
    layer = LocalActivationUnit(hidden_units=(5,), activation="dice", use_bn=True, dropout_rate=0.1, seed=2)
    assert_config_roundtrip(layer)
    query = RNG.normal(size=(3, 1, 4)).astype("float32")
    keys = RNG.normal(size=(3, 6, 4)).astype("float32")
    out = assert_saved_model_roundtrip(layer, [query, keys])
    assert out.shape == (3, 6, 1)
