import keras
import numpy as np
import pytest

from ctrkit.layers.sequence.kmax_pooling import KMaxPooling
from ctrkit.layers.testing import assert_config_roundtrip, assert_saved_model_roundtrip

X = np.random.default_rng(3).normal(size=(2, 6, 4, 3)).astype("float32")


def numpy_kmax(x, k, axis):
    return -np.sort(-x, axis=axis).take(np.arange(k), axis=axis)


@pytest.mark.parametrize("k,axis", [(1, -1), (2, 1), (3, 2), (4, -3), (2, 3)])
def test_matches_numpy(k, axis):
    out = keras.ops.convert_to_numpy(KMaxPooling(k, axis)(X))
    np.testing.assert_allclose(out, numpy_kmax(X, k, axis))
    assert KMaxPooling(k, axis).compute_output_shape(X.shape) == out.shape


def test_default_pools_last_axis():
    out = keras.ops.convert_to_numpy(KMaxPooling()(X))
    np.testing.assert_allclose(out, X.max(-1, keepdims=True))


@pytest.mark.parametrize("kwargs", [{"k": 0}, {"k": 1.5}, {"axis": "1"}])
def test_argument_validation(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        KMaxPooling(**kwargs)


@pytest.mark.parametrize("k,axis,name", [(7, 1, "k"), (1, 0, "axis"), (1, 4, "axis"), (1, -4, "axis")])
def test_shape_validation(k, axis, name):
    with pytest.raises(ValueError, match=name):
        KMaxPooling(k, axis)(X)


def test_serialization():
    layer = KMaxPooling(k=3, axis=1)
    assert_config_roundtrip(layer)
    out = assert_saved_model_roundtrip(layer, X)
    np.testing.assert_allclose(out, numpy_kmax(X, 3, 1))
