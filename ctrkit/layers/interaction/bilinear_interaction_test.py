import itertools

import keras
import numpy as np
import pytest

from ctrkit.layers.interaction.bilinear_interaction import BilinearInteraction
from ctrkit.layers.testing import assert_config_roundtrip, assert_saved_model_roundtrip


def _fields(n: int = 4, batch: int = 3, emb: int = 5, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(batch, 1, emb)).astype("float32") for _ in range(n)]


def _reference(fields: list[np.ndarray], weights: np.ndarray, bilinear_type: str) -> np.ndarray:
    pairs = list(itertools.combinations(range(len(fields)), 2))
    out = []
    for n, (i, j) in enumerate(pairs):
        w = weights[{"all": 0, "each": i, "interaction": n}[bilinear_type]]
        out.append((fields[i][:, 0] @ w) * fields[j][:, 0])
    return np.stack(out, axis=1)


@pytest.mark.parametrize(
    "bilinear_type, num_matrices", [("all", 1), ("each", 3), ("interaction", 6)]
)
def test_matches_reference(bilinear_type, num_matrices):
    fields = _fields()
    layer = BilinearInteraction(bilinear_type=bilinear_type)
    out = keras.ops.convert_to_numpy(layer(fields))
    assert out.shape == (3, 6, 5)
    weights = keras.ops.convert_to_numpy(layer.W)
    assert weights.shape == (num_matrices, 5, 5)
    np.testing.assert_allclose(out, _reference(fields, weights, bilinear_type), rtol=1e-4, atol=1e-5)


def test_each_pair_gets_its_own_initial_matrix_of_glorot_scale():
    layer = BilinearInteraction(bilinear_type="interaction")
    layer([keras.Input((1, 16)) for _ in range(6)])
    weights = keras.ops.convert_to_numpy(layer.W)
    assert not np.allclose(weights[0], weights[1])
    # Glorot normal for a 16 x 16 matrix: stddev sqrt(2 / 32) = 0.25.
    assert 0.2 < weights.std() < 0.3


def test_symbolic_output_shape():
    inputs = [keras.Input((1, 4)) for _ in range(5)]
    layer = BilinearInteraction()
    assert tuple(layer(inputs).shape) == (None, 10, 4)
    assert layer.compute_output_shape([(None, 1, 4)] * 5) == (None, 10, 4)


@pytest.mark.parametrize("kwargs, name", [({"bilinear_type": "pair"}, "bilinear_type"), ({"seed": "1"}, "seed")])
def test_argument_validation(kwargs, name):
    with pytest.raises(ValueError, match=name):
        BilinearInteraction(**kwargs)


def test_rejects_fields_of_different_sizes():
    with pytest.raises(ValueError, match="same shape"):
        BilinearInteraction()([np.ones((2, 1, 4), "float32"), np.ones((2, 1, 5), "float32")])


@pytest.mark.parametrize("bilinear_type", ["all", "each", "interaction"])
def test_serialisation(bilinear_type):
    assert_config_roundtrip(BilinearInteraction(bilinear_type=bilinear_type, seed=5, name="bilinear"))
    assert_saved_model_roundtrip(BilinearInteraction(bilinear_type=bilinear_type), _fields(n=3))
