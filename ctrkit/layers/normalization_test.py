import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest

from ctrkit.layers.normalization import LayerNormalization
from ctrkit.layers.testing import assert_config_roundtrip, assert_saved_model_roundtrip

RNG = np.random.default_rng(2)


def _numpy_layer_norm(x, axis, eps, gamma=1.0, beta=0.0):
    mean = x.mean(axis=axis, keepdims=True)
    var = x.var(axis=axis, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def test_layer_norm_matches_numpy_with_scale_and_offset():
    x = RNG.normal(loc=2.0, scale=4.0, size=(3, 5, 6)).astype("float32")
    layer = LayerNormalization()
    layer.build(x.shape)
    gamma = RNG.normal(size=(6,)).astype("float32")
    beta = RNG.normal(size=(6,)).astype("float32")
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    out = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(out, _numpy_layer_norm(x, -1, 1e-9, gamma, beta), rtol=1e-4, atol=1e-5)


def test_layer_norm_other_axis_and_eps():
    x = RNG.normal(size=(2, 4, 3)).astype("float32")
    layer = LayerNormalization(axis=1, eps=0.5)
    layer.build(x.shape)
    gamma = np.array([1.0, 2.0, 0.5, -1.0], "float32")
    layer.gamma.assign(gamma)
    out = keras.ops.convert_to_numpy(layer(x))
    expected = _numpy_layer_norm(x, 1, 0.5, gamma.reshape(1, 4, 1))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    assert layer.compute_output_shape((None, 4, 3)) == (None, 4, 3)


def test_layer_norm_without_center_and_scale_has_no_weights():
    x = RNG.normal(size=(4, 7)).astype("float32")
    layer = LayerNormalization(center=False, scale=False)
    out = keras.ops.convert_to_numpy(layer(x))
    assert layer.weights == []
    np.testing.assert_allclose(out, _numpy_layer_norm(x, -1, 1e-9), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out.mean(axis=-1), 0.0, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, name",
    [({"axis": "last"}, "axis"), ({"eps": -1e-3}, "eps"), ({"center": 1}, "center"), ({"scale": None}, "scale")],
)
def test_layer_norm_rejects_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        LayerNormalization(**kwargs)


def test_layer_norm_rejects_axis_out_of_range():
    with pytest.raises(ValueError, match="axis"):
        LayerNormalization(axis=2).build((None, 3))


def test_layer_norm_serialisation():
    layer = LayerNormalization(axis=-1, eps=1e-6, center=False, scale=True)
    assert_config_roundtrip(layer)
    layer.build((None, 3, 4))
    layer.gamma.assign(np.array([0.5, 1.5, -2.0, 1.0], "float32"))
    assert_saved_model_roundtrip(layer, RNG.normal(size=(2, 3, 4)).astype("float32"), atol=1e-5)


def test_layer_norm_passes_mask_on():
    ids = keras.Input(shape=(3,), dtype="int32")
    embedding = keras.layers.Embedding(5, 4, mask_zero=True)
    pooled = keras.layers.GlobalAveragePooling1D()(LayerNormalization()(embedding(ids)))
    model = keras.Model(ids, pooled)
    values = np.array([[1, 2, 0], [3, 0, 0]], "int32")
    out = model.predict(values, verbose=0)
    normed = _numpy_layer_norm(keras.ops.convert_to_numpy(embedding.embeddings), -1, 1e-9)
    # The padded positions must stay out of the average.
    expected = np.stack([normed[[1, 2]].mean(axis=0), normed[3]])
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
