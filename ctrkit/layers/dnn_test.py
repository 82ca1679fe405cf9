import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest

from ctrkit.layers.activation import Dice
from ctrkit.layers.dnn import DNN
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
