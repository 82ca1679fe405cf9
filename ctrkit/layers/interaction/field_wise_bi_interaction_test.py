import itertools

import numpy as np
import pytest
from keras import ops

from ctrkit.layers.interaction.field_wise_bi_interaction import FieldWiseBiInteraction
from ctrkit.layers.testing import assert_config_roundtrip, assert_saved_model_roundtrip

RNG = np.random.default_rng(4)


def _inputs(batch=3, group_sizes=(2, 3, 1), emb=4):
    return [RNG.normal(size=(batch, n, emb)).astype("float32") for n in group_sizes]


def _numpy_reference(groups, kernel_mf, kernel_fm, bias_mf, bias_fm):
    h_mf = bias_mf.copy()
    for p, (g, k) in enumerate(itertools.combinations(range(len(groups)), 2)):
        h_mf = h_mf + kernel_mf[p, 0] * groups[g].sum(axis=1) * groups[k].sum(axis=1)
    h_fm = bias_fm.copy()
    for g, group in enumerate(groups):
        pairwise = np.zeros_like(group[:, 0])
        for i, j in itertools.combinations(range(group.shape[1]), 2):
            pairwise += group[:, i] * group[:, j]
        # (sum)^2 - sum of squares counts every pair twice
        h_fm = h_fm + kernel_fm[g, 0] * 2 * pairwise
    return h_mf + h_fm


def test_matches_explicit_group_pair_sums():
    groups = _inputs()
    layer = FieldWiseBiInteraction()
    layer.build([g.shape for g in groups])
    weights = [
        RNG.normal(size=(3, 1)).astype("float32"),
        RNG.normal(size=(3, 1)).astype("float32"),
        RNG.normal(size=(4,)).astype("float32"),
        RNG.normal(size=(4,)).astype("float32"),
    ]
    layer.set_weights(weights)
    np.testing.assert_allclose(
        ops.convert_to_numpy(layer(groups)), _numpy_reference(groups, *weights), rtol=1e-4, atol=1e-5
    )


def test_initial_weights_give_plain_bi_interaction_without_bias():
    groups = _inputs(group_sizes=(2, 2))
    layer = FieldWiseBiInteraction(use_bias=False)
    out = ops.convert_to_numpy(layer(groups))
    assert len(layer.weights) == 2
    zeros = np.zeros(4, "float32")
    expected = _numpy_reference(groups, np.ones((1, 1)), np.full((2, 1), 0.5), zeros, zeros)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
    assert layer.compute_output_shape([(None, 2, 4), (None, 2, 4)]) == (None, 4)


def test_invalid_arguments_and_inputs():
    with pytest.raises(ValueError, match="seed"):
        FieldWiseBiInteraction(seed=1.5)
    with pytest.raises(ValueError, match="at least 2 inputs"):
        FieldWiseBiInteraction()(_inputs(group_sizes=(3,)))
    with pytest.raises(ValueError, match="3D"):
        FieldWiseBiInteraction()([np.ones((2, 4), "float32")] * 2)
    with pytest.raises(ValueError, match="same known embedding_size"):
        FieldWiseBiInteraction()([np.ones((2, 1, 4), "float32"), np.ones((2, 1, 3), "float32")])


def test_serialization():
    layer = FieldWiseBiInteraction(use_bias=True, seed=3)
    assert_config_roundtrip(layer)
    assert_saved_model_roundtrip(layer, _inputs(), atol=1e-5)
