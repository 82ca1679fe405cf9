import itertools

import keras
import numpy as np
import pytest

from ctrkit.layers.interaction.inner_product_layer import InnerProductLayer
from ctrkit.layers.testing import assert_config_roundtrip, assert_saved_model_roundtrip


def _fields(n: int = 4, batch: int = 3, emb: int = 5, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(batch, 1, emb)).astype("float32") for _ in range(n)]


def test_inner_products_in_combination_order():
    fields = _fields()
    out = keras.ops.convert_to_numpy(InnerProductLayer()(fields))
    assert out.shape == (3, 6, 1)
    for n, (i, j) in enumerate(itertools.combinations(range(4), 2)):
        for b in range(3):
            expected = sum(fields[i][b, 0, e] * fields[j][b, 0, e] for e in range(5))
            np.testing.assert_allclose(out[b, n, 0], expected, rtol=1e-5, atol=1e-5)


def test_elementwise_products_without_reduce_sum():
    fields = _fields(n=3)
    out = keras.ops.convert_to_numpy(InnerProductLayer(reduce_sum=False)(fields))
    assert out.shape == (3, 3, 5)
    for n, (i, j) in enumerate(itertools.combinations(range(3), 2)):
        np.testing.assert_allclose(out[:, n], fields[i][:, 0] * fields[j][:, 0], rtol=1e-6)


@pytest.mark.parametrize("reduce_sum, last", [(True, 1), (False, 4)])
def test_symbolic_output_shape(reduce_sum, last):
    inputs = [keras.Input((1, 4)) for _ in range(5)]
    layer = InnerProductLayer(reduce_sum=reduce_sum)
    assert tuple(layer(inputs).shape) == (None, 10, last)
    assert layer.compute_output_shape([(None, 1, 4)] * 5) == (None, 10, last)


def test_argument_validation():
    with pytest.raises(ValueError, match="reduce_sum"):
        InnerProductLayer(reduce_sum="yes")


@pytest.mark.parametrize(
    "inputs, message",
    [
        ([np.ones((2, 1, 4), "float32")], "at least 2 inputs"),
        ([np.ones((2, 1, 4), "float32"), np.ones((2, 1, 3), "float32")], "same shape"),
        ([np.ones((2, 2, 4), "float32"), np.ones((2, 2, 4), "float32")], r"\(batch_size, 1, embedding_size\)"),
    ],
)
def test_input_validation(inputs, message):
    with pytest.raises(ValueError, match=message):
        InnerProductLayer()(inputs)


def test_serialisation():
    assert_config_roundtrip(InnerProductLayer(reduce_sum=False, name="ipl"))
    assert_saved_model_roundtrip(InnerProductLayer(), _fields(n=3))
