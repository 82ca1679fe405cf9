import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest

from ctrkit.layers.interaction.dot_interaction import DotInteraction
from ctrkit.layers.testing import assert_config_roundtrip, assert_saved_model_roundtrip

RNG = np.random.default_rng(3)


def _features(num_features=4, batch=3, dim=5):
    return [RNG.normal(size=(batch, dim)).astype("float32") for _ in range(num_features)]


def _explicit_pairs(features, self_interaction):
    """Dot products of the lower triangle, row by row, one pair at a time."""
    columns = []
    for i in range(len(features)):
        for j in range(i + 1 if self_interaction else i):
            columns.append(np.sum(features[i] * features[j], axis=1))
    return np.stack(columns, axis=1)


def _explicit_matrix(features, self_interaction):
    num = len(features)
    batch = features[0].shape[0]
    matrix = np.zeros((batch, num, num), "float32")
    for i in range(num):
        for j in range(i + 1 if self_interaction else i):
            matrix[:, i, j] = np.sum(features[i] * features[j], axis=1)
    return matrix.reshape(batch, num * num)


@pytest.mark.parametrize("self_interaction", [False, True])
def test_gathered_pairs_match_explicit_dots(self_interaction):
    features = _features()
    out = keras.ops.convert_to_numpy(DotInteraction(self_interaction=self_interaction)(features))
    width = 4 * 5 // 2 if self_interaction else 4 * 3 // 2
    assert out.shape == (3, width)
    np.testing.assert_allclose(out, _explicit_pairs(features, self_interaction), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("self_interaction", [False, True])
def test_skip_gather_zeroes_unused_entries(self_interaction):
    features = _features()
    layer = DotInteraction(self_interaction=self_interaction, skip_gather=True)
    out = keras.ops.convert_to_numpy(layer(features))
    assert out.shape == (3, 16)
    np.testing.assert_allclose(out, _explicit_matrix(features, self_interaction), rtol=1e-5, atol=1e-5)
    # The same values as the gathered form, just spread over the full matrix.
    gathered = keras.ops.convert_to_numpy(DotInteraction(self_interaction=self_interaction)(features))
    nonzero_slots = _explicit_matrix([np.ones((1, 1), "float32")] * 4, self_interaction)[0] != 0
    np.testing.assert_allclose(out[:, nonzero_slots], gathered, rtol=1e-6)


@pytest.mark.parametrize(
    "flags, width", [({}, 6), ({"self_interaction": True}, 10), ({"skip_gather": True}, 16)]
)
def test_output_shape(flags, width):
    layer = DotInteraction(**flags)
    assert layer.compute_output_shape([(None, 8)] * 4) == (None, width)
    inputs = [keras.Input(shape=(8,)) for _ in range(4)]
    assert layer(inputs).shape == (None, width)


@pytest.mark.parametrize("flag", ["self_interaction", "skip_gather"])
def test_rejects_non_bool_flags(flag):
    with pytest.raises(ValueError, match=flag):
        DotInteraction(**{flag: 1})


@pytest.mark.parametrize(
    "shapes", [[(None, 4), (None, 5)], [(None, 4), (None, 2, 4)], (None, 4)]
)
def test_rejects_bad_inputs(shapes):
    with pytest.raises(ValueError, match="DotInteraction"):
        DotInteraction().build(shapes)


@pytest.mark.parametrize("flags", [{}, {"self_interaction": True, "skip_gather": True}])
def test_serialisation(flags):
    layer = DotInteraction(**flags)
    assert_config_roundtrip(layer)
    out = assert_saved_model_roundtrip(layer, _features(num_features=3, batch=2, dim=4), atol=1e-5)
    assert out.shape == (2, 9 if flags else 3)
