import itertools

import keras
import numpy as np
import pytest

from ctrkit.layers.interaction.outter_product_layer import OutterProductLayer
from ctrkit.layers.testing import assert_config_roundtrip, assert_saved_model_roundtrip


def _fields(n: int = 4, batch: int = 3, emb: int = 3, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(batch, 1, emb)).astype("float32") for _ in range(n)]


def _reference(fields: list[np.ndarray], kernel: np.ndarray, kernel_type: str) -> np.ndarray:
    batch, _, emb = fields[0].shape
    pairs = list(itertools.combinations(range(len(fields)), 2))
    out = np.zeros((batch, len(pairs)))
    for b in range(batch):
        for n, (i, j) in enumerate(pairs):
            p, q = fields[i][b, 0], fields[j][b, 0]
            if kernel_type == "mat":
                out[b, n] = sum(q[e] * kernel[e, n, f] * p[f] for e in range(emb) for f in range(emb))
            elif kernel_type == "vec":
                out[b, n] = sum(p[e] * q[e] * kernel[n, e] for e in range(emb))
            else:
                out[b, n] = kernel[n, 0] * sum(p[e] * q[e] for e in range(emb))
    return out


@pytest.mark.parametrize(
    "kernel_type, kernel_shape", [("mat", (3, 6, 3)), ("vec", (6, 3)), ("num", (6, 1))]
)
def test_matches_explicit_loops(kernel_type, kernel_shape):
    fields = _fields()
    layer = OutterProductLayer(kernel_type=kernel_type)
    out = keras.ops.convert_to_numpy(layer(fields))
    assert out.shape == (3, 6)
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    assert kernel.shape == kernel_shape
    np.testing.assert_allclose(out, _reference(fields, kernel, kernel_type), rtol=1e-4, atol=1e-5)


def test_symbolic_output_shape():
    inputs = [keras.Input((1, 4)) for _ in range(5)]
    layer = OutterProductLayer()
    assert tuple(layer(inputs).shape) == (None, 10)
    assert layer.compute_output_shape([(None, 1, 4)] * 5) == (None, 10)


def test_seed_makes_kernel_reproducible():
    a, b = OutterProductLayer(kernel_type="vec", seed=7), OutterProductLayer(kernel_type="vec", seed=7)
    a(_fields()), b(_fields())
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(a.kernel), keras.ops.convert_to_numpy(b.kernel))


@pytest.mark.parametrize("kwargs, name", [({"kernel_type": "matrix"}, "kernel_type"), ({"seed": 1.5}, "seed")])
def test_argument_validation(kwargs, name):
    with pytest.raises(ValueError, match=name):
        OutterProductLayer(**kwargs)


def test_rejects_a_single_input():
    with pytest.raises(ValueError, match="at least 2 inputs"):
        OutterProductLayer()(np.ones((2, 1, 4), "float32"))


@pytest.mark.parametrize("kernel_type", ["mat", "num"])
def test_serialisation(kernel_type):
    assert_config_roundtrip(OutterProductLayer(kernel_type=kernel_type, seed=3, name="opl"))
    assert_saved_model_roundtrip(OutterProductLayer(kernel_type=kernel_type), _fields(n=3))
