import itertools

import keras
import numpy as np
import pytest

from ctrkit.layers.interaction.bi_interaction_pooling import BiInteractionPooling
from ctrkit.layers.testing import assert_config_roundtrip, assert_saved_model_roundtrip


def test_matches_sum_of_pairwise_elementwise_products():
    x = np.random.default_rng(0).normal(size=(4, 5, 3)).astype("float32")
    out = keras.ops.convert_to_numpy(BiInteractionPooling()(x))
    assert out.shape == (4, 1, 3)
    expected = sum(x[:, i] * x[:, j] for i, j in itertools.combinations(range(5), 2))
    np.testing.assert_allclose(out[:, 0], expected, rtol=1e-5, atol=1e-5)


def test_summing_the_output_gives_fm():
    from ctrkit.layers.interaction.fm import FM

    x = np.random.default_rng(1).normal(size=(3, 4, 6)).astype("float32")
    pooled = keras.ops.convert_to_numpy(BiInteractionPooling()(x))
    fm = keras.ops.convert_to_numpy(FM()(x))
    np.testing.assert_allclose(pooled.sum(axis=-1), fm, rtol=1e-5, atol=1e-5)


def test_symbolic_output_shape():
    assert tuple(BiInteractionPooling()(keras.Input((7, 4))).shape) == (None, 1, 4)
    assert BiInteractionPooling().compute_output_shape((None, 7, 4)) == (None, 1, 4)


def test_rejects_non_3d_input():
    with pytest.raises(ValueError, match="3D input"):
        BiInteractionPooling()(np.ones((2, 3, 4, 1), "float32"))


def test_serialisation():
    assert_config_roundtrip(BiInteractionPooling(name="bi"))
    x = np.random.default_rng(2).normal(size=(4, 3, 2)).astype("float32")
    assert_saved_model_roundtrip(BiInteractionPooling(), x)
