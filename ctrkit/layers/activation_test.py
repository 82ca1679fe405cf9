import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest

from ctrkit.layers.activation import Dice, activation_layer, serialize_activation
from ctrkit.layers.testing import assert_config_roundtrip, assert_saved_model_roundtrip

RNG = np.random.default_rng(1)


def _numpy_dice(x, alpha, axis, eps):
    mean = x.mean(axis=tuple(i for i in range(x.ndim) if i != axis % x.ndim), keepdims=True)
    var = x.var(axis=tuple(i for i in range(x.ndim) if i != axis % x.ndim), keepdims=True)
    p = 1.0 / (1.0 + np.exp(-(x - mean) / np.sqrt(var + eps)))
    return alpha * (1.0 - p) * x + p * x


def test_dice_training_uses_batch_statistics():
    x = RNG.normal(loc=1.0, scale=3.0, size=(64, 5)).astype("float32")
    layer = Dice()
    layer.build(x.shape)
    alpha = np.array([0.0, 0.1, 0.5, -0.2, 1.0], "float32")
    layer.alphas.assign(alpha)
    out = keras.ops.convert_to_numpy(layer(x, training=True))
    np.testing.assert_allclose(out, _numpy_dice(x, alpha, -1, 1e-9), rtol=1e-4, atol=1e-5)


def test_dice_other_axis():
    x = RNG.normal(size=(32, 3, 4)).astype("float32")
    layer = Dice(axis=1, epsilon=1e-6)
    layer.build(x.shape)
    alpha = np.array([0.3, -0.4, 0.8], "float32")
    layer.alphas.assign(alpha)
    out = keras.ops.convert_to_numpy(layer(x, training=True))
    expected = _numpy_dice(x, alpha.reshape(1, 3, 1), 1, 1e-6)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
    assert layer.compute_output_shape((None, 3, 4)) == (None, 3, 4)


def test_dice_inference_uses_moving_statistics():
    x = RNG.normal(size=(8, 4)).astype("float32")
    layer = Dice()
    layer.build(x.shape)
    layer.alphas.assign(np.full((4,), 0.25, "float32"))
    # Fresh moving statistics are mean 0, variance 1: the gate is sigmoid(x).
    out = keras.ops.convert_to_numpy(layer(x))
    p = 1.0 / (1.0 + np.exp(-x))
    np.testing.assert_allclose(out, 0.25 * (1.0 - p) * x + p * x, rtol=1e-5, atol=1e-6)


def test_dice_rejects_bad_arguments():
    with pytest.raises(ValueError, match="axis"):
        Dice(axis=1.0)
    with pytest.raises(ValueError, match="epsilon"):
        Dice(epsilon=-1.0)
    with pytest.raises(ValueError, match="axis"):
        Dice(axis=3).build((None, 4))


def test_dice_serialisation():
    layer = Dice(axis=-1, epsilon=1e-5)
    assert_config_roundtrip(layer)
    layer.build((None, 3))
    layer.alphas.assign(np.array([0.2, -0.1, 0.7], "float32"))
    assert_saved_model_roundtrip(layer, RNG.normal(size=(5, 3)).astype("float32"))


@pytest.mark.parametrize("name", ["dice", "Dice", "ctrkit>Dice", Dice])
def test_activation_layer_dice(name):
    assert isinstance(activation_layer(name), Dice)


def test_activation_layer_names_and_classes():
    relu = activation_layer("relu")
    assert isinstance(relu, keras.layers.Activation)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(relu(np.array([-1.0, 2.0]))), [0.0, 2.0])
    assert isinstance(activation_layer(keras.layers.PReLU), keras.layers.PReLU)
    assert isinstance(activation_layer("PReLU"), keras.layers.PReLU)
    assert activation_layer("relu") is not relu


@pytest.mark.parametrize("bad", ["no_such_activation", 3, None, int])
def test_activation_layer_rejects_unknown(bad):
    with pytest.raises(ValueError, match="activation"):
        activation_layer(bad)


@pytest.mark.parametrize("value", ["relu", "dice", Dice, keras.layers.PReLU])
def test_serialize_activation_resolves_back(value):
    stored = serialize_activation(value)
    assert isinstance(stored, str)
    assert type(activation_layer(stored)) is type(activation_layer(value))
