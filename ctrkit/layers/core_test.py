import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest

from ctrkit.layers.activation import Dice
from ctrkit.layers.core import DNN, LocalActivationUnit, PredictionLayer, RegulationModule
from ctrkit.layers.testing import assert_config_roundtrip, assert_saved_model_roundtrip

RNG = np.random.default_rng(0)


def _relu(x):
    return np.maximum(x, 0.0)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _numpy_mlp(x, kernels, biases, hidden, last):
    for i, (w, b) in enumerate(zip(kernels, biases)):
        x = x @ w + b
        x = last(x) if i == len(kernels) - 1 else hidden(x)
    return x


# ---------------------------------------------------------------- DNN


def test_dnn_matches_numpy_relu_mlp():
    x = RNG.normal(size=(5, 6)).astype("float32")
    layer = DNN((4, 3))
    layer.build(x.shape)
    kernels = [keras.ops.convert_to_numpy(k) for k in layer.kernels]
    biases = [RNG.normal(size=b.shape).astype("float32") for b in layer.biases]
    for var, value in zip(layer.biases, biases):
        var.assign(value)
    out = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(out, _numpy_mlp(x, kernels, biases, _relu, _relu), rtol=1e-5, atol=1e-6)
    assert out.shape == (5, 3)


def test_dnn_output_activation_and_3d_input():
    x = RNG.normal(size=(2, 4, 6)).astype("float32")
    layer = DNN([5, 2], activation="tanh", output_activation="sigmoid")
    out = keras.ops.convert_to_numpy(layer(x))
    kernels = [keras.ops.convert_to_numpy(k) for k in layer.kernels]
    biases = [keras.ops.convert_to_numpy(b) for b in layer.biases]
    np.testing.assert_allclose(out, _numpy_mlp(x, kernels, biases, np.tanh, _sigmoid), rtol=1e-5, atol=1e-6)
    assert layer.compute_output_shape((None, 4, 6)) == (None, 4, 2)


def test_dnn_empty_hidden_units_is_identity():
    x = RNG.normal(size=(3, 4)).astype("float32")
    layer = DNN(())
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x)), x)
    assert layer.compute_output_shape((None, 4)) == (None, 4)


def test_dnn_seed_makes_initialisation_reproducible():
    x = np.ones((1, 6), "float32")
    a = keras.ops.convert_to_numpy(DNN((4,), seed=7)(x))
    b = keras.ops.convert_to_numpy(DNN((4,), seed=7)(x))
    c = keras.ops.convert_to_numpy(DNN((4,), seed=8)(x))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_dnn_dropout_only_in_training():
    x = np.ones((64, 8), "float32")
    layer = DNN((32,), activation="linear", dropout_rate=0.5)
    inference = keras.ops.convert_to_numpy(layer(x, training=False))
    train = keras.ops.convert_to_numpy(layer(x, training=True))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x)), inference)
    zeros = np.mean(train == 0.0)
    assert 0.3 < zeros < 0.7
    kept = train != 0.0
    np.testing.assert_allclose(train[kept], 2.0 * inference[kept], rtol=1e-5)


def test_dnn_batch_norm_normalises_in_training():
    x = RNG.normal(loc=3.0, scale=2.0, size=(256, 6)).astype("float32")
    layer = DNN((4,), activation="linear", use_bn=True)
    out = keras.ops.convert_to_numpy(layer(x, training=True))
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=0), 1.0, atol=1e-2)


def test_dnn_l2_reg_adds_loss():
    layer = DNN((3,), l2_reg=0.1)
    layer(np.ones((2, 4), "float32"))
    expected = 0.1 * np.sum(keras.ops.convert_to_numpy(layer.kernels[0]) ** 2)
    assert len(layer.losses) == 1
    np.testing.assert_allclose(float(layer.losses[0]), expected, rtol=1e-5)
    assert DNN((3,)).losses == []


def test_dnn_dice_and_layer_class_activation():
    dice = DNN((4, 2), activation="dice")
    assert all(isinstance(a, Dice) for a in dice.activation_layers)
    prelu = DNN((4,), activation=keras.layers.PReLU)
    assert isinstance(prelu.activation_layers[0], keras.layers.PReLU)
    x = RNG.normal(size=(8, 5)).astype("float32")
    assert_saved_model_roundtrip(dice, x)
    assert_saved_model_roundtrip(prelu, x)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"hidden_units": 8}, "hidden_units"),
        ({"hidden_units": (8, 0)}, "hidden_units"),
        ({"hidden_units": (8,), "activation": "nope"}, "activation"),
        ({"hidden_units": (8,), "activation": 3}, "activation"),
        ({"hidden_units": (8,), "l2_reg": -1}, "l2_reg"),
        ({"hidden_units": (8,), "dropout_rate": 1.0}, "dropout_rate"),
        ({"hidden_units": (8,), "use_bn": "yes"}, "use_bn"),
        ({"hidden_units": (8,), "output_activation": "nope"}, "activation"),
        ({"hidden_units": (8,), "seed": 1.5}, "seed"),
    ],
)
def test_dnn_rejects_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        DNN(**kwargs)


def test_dnn_serialisation():
    layer = DNN(
        (4, 3), activation="dice", l2_reg=0.01, dropout_rate=0.2, use_bn=True, output_activation="sigmoid", seed=3
    )
    assert_config_roundtrip(layer)
    assert_config_roundtrip(DNN((2,), activation=keras.layers.PReLU))
    x = RNG.normal(size=(6, 5)).astype("float32")
    out = assert_saved_model_roundtrip(layer, x)
    assert out.shape == (6, 3)


def test_dnn_accepts_numpy_arguments_with_a_json_config():
    layer = DNN(np.array([4, 2]), l2_reg=np.float32(0.01), dropout_rate=np.float64(0.1), seed=np.int64(5))
    config = layer.get_config()
    json.dumps(config)
    assert config["hidden_units"] == [4, 2] and config["seed"] == 5
    assert_saved_model_roundtrip(layer, RNG.normal(size=(3, 6)).astype("float32"))


# ---------------------------------------------------------------- PredictionLayer


def test_prediction_layer_binary_adds_bias_and_sigmoid():
    x = RNG.normal(size=(4, 1)).astype("float32")
    layer = PredictionLayer()
    layer.build((None, 1))
    layer.global_bias.assign(np.array([0.7], "float32"))
    out = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(out, _sigmoid(x + 0.7), rtol=1e-6)
    assert out.shape == (4, 1)


def test_prediction_layer_regression_is_identity_plus_bias():
    x = RNG.normal(size=(4,)).astype("float32")
    out = keras.ops.convert_to_numpy(PredictionLayer("regression")(x))
    np.testing.assert_allclose(out, x.reshape(-1, 1))
    no_bias = PredictionLayer("binary", use_bias=False)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(no_bias(x)), _sigmoid(x).reshape(-1, 1), rtol=1e-6)
    assert no_bias.weights == []


def test_prediction_layer_rejects_bad_arguments():
    with pytest.raises(ValueError, match="task"):
        PredictionLayer("multiclass")
    with pytest.raises(ValueError, match="use_bias"):
        PredictionLayer(use_bias=1)


def test_prediction_layer_serialisation():
    layer = PredictionLayer("regression", use_bias=True)
    assert_config_roundtrip(layer)
    assert layer.compute_output_shape((None, 1)) == (None, 1)
    layer = PredictionLayer()
    layer.build((None, 1))
    layer.global_bias.assign(np.array([-0.3], "float32"))
    out = assert_saved_model_roundtrip(layer, RNG.normal(size=(3, 1)).astype("float32"))
    assert out.shape == (3, 1)


# ---------------------------------------------------------------- LocalActivationUnit


def test_local_activation_unit_matches_numpy():
    query = RNG.normal(size=(2, 1, 4)).astype("float32")
    keys = RNG.normal(size=(2, 5, 4)).astype("float32")
    layer = LocalActivationUnit(hidden_units=(6, 3))
    layer.build([query.shape, keys.shape])
    layer.bias.assign(np.array([0.25], "float32"))
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


# ---------------------------------------------------------------- RegulationModule


@pytest.mark.parametrize("tau", [1.0, 0.5])
def test_regulation_module_matches_numpy(tau):
    x = RNG.normal(size=(2, 3, 4)).astype("float32")
    layer = RegulationModule(tau=tau)
    layer.build(x.shape)
    g = np.array([0.5, 1.0, 2.0], "float32")
    layer.field_weight.assign(g.reshape(1, 3, 1))
    gate = np.exp(g / tau) / np.exp(g / tau).sum()
    expected = (x * gate[None, :, None]).reshape(2, 12)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), expected, rtol=1e-5, atol=1e-6)
    assert layer.compute_output_shape((None, 3, 4)) == (None, 12)


def test_regulation_module_starts_as_uniform_gate():
    x = RNG.normal(size=(2, 4, 3)).astype("float32")
    out = keras.ops.convert_to_numpy(RegulationModule()(x))
    np.testing.assert_allclose(out, x.reshape(2, 12) / 4.0, rtol=1e-6)


def test_regulation_module_rejects_bad_arguments_and_inputs():
    for tau in (0, -1.0, "1"):
        with pytest.raises(ValueError, match="tau"):
            RegulationModule(tau=tau)
    with pytest.raises(ValueError, match="3D"):
        RegulationModule().build((None, 12))


def test_regulation_module_serialisation():
    layer = RegulationModule(tau=0.5)
    assert_config_roundtrip(layer)
    assert layer.get_config()["tau"] == 0.5
    layer.build((None, 3, 2))
    layer.field_weight.assign(np.array([[[0.1], [0.9], [0.4]]], "float32"))
    out = assert_saved_model_roundtrip(layer, RNG.normal(size=(4, 3, 2)).astype("float32"))
    assert out.shape == (4, 6)
