import itertools

import keras
import numpy as np
import pytest

from ctrkit.layers.interaction.fm import FM
from ctrkit.layers.testing import assert_config_roundtrip, assert_saved_model_roundtrip


def _pairwise_inner_products(x: np.ndarray) -> np.ndarray:
    return sum(np.sum(x[:, i] * x[:, j], axis=-1) for i, j in itertools.combinations(range(x.shape[1]), 2))


def test_matches_sum_of_pairwise_inner_products():
    x = np.random.default_rng(0).normal(size=(4, 5, 3)).astype("float32")
    out = keras.ops.convert_to_numpy(FM()(x))
    assert out.shape == (4, 1)
    identity = 0.5 * np.sum(np.sum(x, axis=1) ** 2 - np.sum(x**2, axis=1), axis=1, keepdims=True)
    np.testing.assert_allclose(out, identity, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out[:, 0], _pairwise_inner_products(x), rtol=1e-5, atol=1e-5)


def test_single_field_has_no_interaction():
    x = np.random.default_rng(1).normal(size=(3, 1, 4)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(FM()(x)), np.zeros((3, 1)), atol=1e-6)


def test_symbolic_output_shape():
    out = FM()(keras.Input((6, 4)))
    assert tuple(out.shape) == (None, 1)
    assert FM().compute_output_shape((None, 6, 4)) == (None, 1)


def test_rejects_non_3d_input():
    with pytest.raises(ValueError, match="3D input"):
        FM()(np.ones((2, 4), "float32"))


def test_serialisation():
    assert_config_roundtrip(FM(name="fm"))
    x = np.random.default_rng(2).normal(size=(4, 3, 2)).astype("float32")
    assert_saved_model_roundtrip(FM(), x)
