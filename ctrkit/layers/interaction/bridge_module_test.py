import numpy as np
import pytest
from keras import ops

from ctrkit.layers.interaction.bridge_module import BridgeModule
from ctrkit.layers.testing import assert_config_roundtrip, assert_saved_model_roundtrip

RNG = np.random.default_rng(6)


def _inputs(batch=3, units=5):
    return [RNG.normal(size=(batch, units)).astype("float32") for _ in range(2)]


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _dense_weights(layer):
    return [ops.convert_to_numpy(w) for w in layer.weights]


@pytest.mark.parametrize(
    "bridge_type", ["pointwise_addition", "hadamard_product", "concatenation", "attention_pooling"]
)
def test_output_shape(bridge_type):
    layer = BridgeModule(bridge_type=bridge_type)
    assert tuple(layer(_inputs()).shape) == (3, 5)
    assert layer.compute_output_shape([(None, 5), (None, 5)]) == (None, 5)


def test_addition_and_hadamard_values():
    x, h = _inputs()
    np.testing.assert_allclose(
        ops.convert_to_numpy(BridgeModule("pointwise_addition")([x, h])), x + h, rtol=1e-6
    )
    np.testing.assert_allclose(ops.convert_to_numpy(BridgeModule()([x, h])), x * h, rtol=1e-6)


def test_concatenation_values():
    x, h = _inputs()
    layer = BridgeModule("concatenation", activation="tanh")
    out = ops.convert_to_numpy(layer([x, h]))
    kernel, bias = _dense_weights(layer.dense)
    expected = np.tanh(np.concatenate([x, h], -1) @ kernel + bias)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_attention_pooling_values():
    x, h = _inputs()
    layer = BridgeModule("attention_pooling")
    out = ops.convert_to_numpy(layer([x, h]))

    def attention(network, v):
        k1, b1, k2, b2 = _dense_weights(network)
        return _softmax(np.maximum(v @ k1 + b1, 0) @ k2 + b2)

    expected = attention(layer.dense_x, x) * x + attention(layer.dense_h, h) * h
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_invalid_arguments_and_inputs():
    with pytest.raises(ValueError, match="bridge_type"):
        BridgeModule(bridge_type="sum")
    with pytest.raises(ValueError, match="activation"):
        BridgeModule(activation="no_such_activation")
    with pytest.raises(ValueError, match="list of 2 inputs"):
        BridgeModule()([np.ones((2, 4), "float32")] * 3)
    with pytest.raises(ValueError, match="same known width"):
        BridgeModule()([np.ones((2, 4), "float32"), np.ones((2, 3), "float32")])


@pytest.mark.parametrize("bridge_type", ["hadamard_product", "concatenation", "attention_pooling"])
def test_serialization(bridge_type):
    layer = BridgeModule(bridge_type=bridge_type, activation="relu")
    assert_config_roundtrip(layer)
    assert_saved_model_roundtrip(layer, _inputs())
