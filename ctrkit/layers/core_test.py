import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest

from ctrkit.layers.core import PredictionLayer, RegulationModule
from ctrkit.layers.testing import assert_config_roundtrip, assert_saved_model_roundtrip

RNG = np.random.default_rng(0)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


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
