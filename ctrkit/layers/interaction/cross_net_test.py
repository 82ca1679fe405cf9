import keras
import numpy as np
import pytest

from ctrkit.layers.interaction.cross_net import CrossNet
from ctrkit.layers.testing import assert_config_roundtrip, assert_saved_model_roundtrip


def _inputs(batch: int = 4, units: int = 6, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(batch, units)).astype("float32")


def _randomise(layer: CrossNet, seed: int = 1) -> None:
    """Non-zero biases, so the reference also checks where they enter."""
    rng = np.random.default_rng(seed)
    for w in layer.weights:
        w.assign(rng.normal(scale=0.5, size=w.shape).astype("float32"))


def _reference(x0: np.ndarray, kernels, biases, parameterization: str) -> np.ndarray:
    out = np.zeros_like(x0, dtype="float64")
    for b in range(x0.shape[0]):
        x_0 = x0[b].astype("float64")
        x_l = x_0
        for w, bias in zip(kernels, biases):
            if parameterization == "vector":
                x_l = x_0 * float(x_l @ w[:, 0]) + bias + x_l
            else:
                x_l = x_0 * (w @ x_l + bias) + x_l
        out[b] = x_l
    return out


@pytest.mark.parametrize("parameterization, kernel_shape", [("vector", (6, 1)), ("matrix", (6, 6))])
def test_matches_explicit_formula(parameterization, kernel_shape):
    x = _inputs()
    layer = CrossNet(layer_num=3, parameterization=parameterization)
    layer.build(x.shape)
    _randomise(layer)
    out = keras.ops.convert_to_numpy(layer(x))
    assert out.shape == x.shape
    kernels = [keras.ops.convert_to_numpy(k) for k in layer.kernels]
    biases = [keras.ops.convert_to_numpy(b) for b in layer.bias]
    assert [k.shape for k in kernels] == [kernel_shape] * 3
    np.testing.assert_allclose(out, _reference(x, kernels, biases, parameterization), rtol=1e-4, atol=1e-4)


def test_fresh_layer_adds_the_first_cross_to_the_input():
    # Biases start at zero: one layer gives x0 * (x0 . w) + x0.
    x = _inputs()
    layer = CrossNet(layer_num=1)
    out = keras.ops.convert_to_numpy(layer(x))
    w = keras.ops.convert_to_numpy(layer.kernels[0])
    np.testing.assert_allclose(out, x * (x @ w) + x, rtol=1e-5, atol=1e-5)


def test_l2_reg_adds_a_loss_per_kernel():
    layer = CrossNet(layer_num=2, l2_reg=0.01)
    layer(_inputs())
    assert len(layer.losses) == 2
    assert len(CrossNet(layer_num=2).losses) == 0


def test_symbolic_output_shape():
    assert tuple(CrossNet()(keras.Input((9,))).shape) == (None, 9)
    assert CrossNet().compute_output_shape((None, 9)) == (None, 9)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"layer_num": -1}, "layer_num"),
        ({"parameterization": "low_rank"}, "parameterization"),
        ({"l2_reg": -1.0}, "l2_reg"),
        ({"seed": None}, "seed"),
    ],
)
def test_argument_validation(kwargs, name):
    with pytest.raises(ValueError, match=name):
        CrossNet(**kwargs)


def test_zero_layers_is_the_identity_with_no_weights():
    x = _inputs()
    layer = CrossNet(layer_num=0)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x)), x)
    assert layer.weights == []
    inputs = keras.Input((x.shape[1],))
    model = keras.Model(inputs, keras.layers.Dense(1)(CrossNet(layer_num=0)(inputs)))
    assert model.predict(x, verbose=0).shape == (x.shape[0], 1)


def test_rejects_non_2d_input():
    with pytest.raises(ValueError, match="2D input"):
        CrossNet()(np.ones((2, 3, 4), "float32"))


@pytest.mark.parametrize("parameterization", ["vector", "matrix"])
def test_serialisation(parameterization):
    assert_config_roundtrip(CrossNet(layer_num=3, parameterization=parameterization, l2_reg=0.1, seed=2, name="cn"))
    assert_saved_model_roundtrip(CrossNet(parameterization=parameterization), _inputs())
