import itertools

import numpy as np
import pytest
from keras import ops

from ctrkit.layers.interaction.fwfm_layer import FwFMLayer
from ctrkit.layers.testing import assert_config_roundtrip, assert_saved_model_roundtrip

RNG = np.random.default_rng(0)


def _inputs(batch=3, fields=4, emb=5):
    return RNG.normal(size=(batch, fields, emb)).astype("float32")


def test_matches_sum_over_field_pairs():
    x = _inputs()
    layer = FwFMLayer(num_fields=4, regularizer=0)
    layer.build(x.shape)
    # a full, asymmetric matrix: only the upper triangle (i < j) may count
    r = RNG.normal(size=(4, 4)).astype("float32")
    layer.set_weights([r])
    expected = np.zeros((x.shape[0], 1), "float32")
    for i, j in itertools.combinations(range(4), 2):
        expected[:, 0] += r[i, j] * np.sum(x[:, i] * x[:, j], axis=-1)
    np.testing.assert_allclose(ops.convert_to_numpy(layer(x)), expected, rtol=1e-5, atol=1e-5)


def test_output_shape_and_regularization_loss():
    x = _inputs(fields=3)
    layer = FwFMLayer(num_fields=3, regularizer=0.1)
    assert tuple(layer(x).shape) == (3, 1)
    assert layer.compute_output_shape((None, 3, 5)) == (None, 1)
    r = ops.convert_to_numpy(layer.field_strengths)
    np.testing.assert_allclose(float(sum(layer.losses)), 0.1 * np.sum(r**2), rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"num_fields": 1}, "num_fields"),
        ({"num_fields": "4"}, "num_fields"),
        ({"regularizer": -1.0}, "regularizer"),
        ({"regularizer": "l2"}, "regularizer"),
    ],
)
def test_invalid_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        FwFMLayer(**kwargs)


def test_invalid_inputs():
    with pytest.raises(ValueError, match="num_fields"):
        FwFMLayer(num_fields=4)(_inputs(fields=3))
    with pytest.raises(ValueError, match="3D"):
        FwFMLayer(num_fields=4)(np.ones((2, 4), "float32"))


def test_serialization():
    layer = FwFMLayer(num_fields=4, regularizer=1e-4)
    assert_config_roundtrip(layer)
    assert_saved_model_roundtrip(layer, _inputs())
