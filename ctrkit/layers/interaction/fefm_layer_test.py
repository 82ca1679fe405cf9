import itertools

import numpy as np
import pytest
from keras import ops

from ctrkit.layers.interaction.fefm_layer import FEFMLayer
from ctrkit.layers.testing import assert_config_roundtrip, assert_saved_model_roundtrip

RNG = np.random.default_rng(1)


def _inputs(batch=3, fields=4, emb=5):
    return RNG.normal(size=(batch, fields, emb)).astype("float32")


def test_matches_explicit_bilinear_forms():
    x = _inputs()
    layer = FEFMLayer(regularizer=0.0)
    out = ops.convert_to_numpy(layer(x))
    kernels = ops.convert_to_numpy(layer.field_embeddings)
    pairs = list(itertools.combinations(range(4), 2))
    assert out.shape == (3, len(pairs))
    for p, (i, j) in enumerate(pairs):
        w = kernels[p] + kernels[p].T
        expected = np.einsum("be,ef,bf->b", x[:, i], w, x[:, j])
        np.testing.assert_allclose(out[:, p], expected, rtol=1e-4, atol=1e-5)


def test_pair_scores_are_symmetric_in_the_two_fields():
    x = _inputs(fields=2)
    layer = FEFMLayer(regularizer=0.0)
    swapped = x[:, ::-1].copy()
    np.testing.assert_allclose(
        ops.convert_to_numpy(layer(x)), ops.convert_to_numpy(layer(swapped)), rtol=1e-5, atol=1e-5
    )


def test_output_shape_and_regularization_loss():
    layer = FEFMLayer(regularizer=0.01)
    assert tuple(layer(_inputs(fields=5)).shape) == (3, 10)
    assert layer.compute_output_shape((None, 5, 5)) == (None, 10)
    kernels = ops.convert_to_numpy(layer.field_embeddings)
    np.testing.assert_allclose(float(sum(layer.losses)), 0.01 * np.sum(kernels**2), rtol=1e-5)


def test_invalid_arguments_and_inputs():
    with pytest.raises(ValueError, match="regularizer"):
        FEFMLayer(regularizer=-0.1)
    with pytest.raises(ValueError, match="regularizer"):
        FEFMLayer(regularizer=None)
    with pytest.raises(ValueError, match="3D"):
        FEFMLayer(regularizer=0.0)(np.ones((2, 4), "float32"))
    with pytest.raises(ValueError, match="num_fields >= 2"):
        FEFMLayer(regularizer=0.0)(np.ones((2, 1, 4), "float32"))


def test_serialization():
    layer = FEFMLayer(regularizer=1e-5)
    assert_config_roundtrip(layer)
    assert_saved_model_roundtrip(layer, _inputs())
