import keras
import numpy as np
import pytest

from ctrkit.layers.interaction.cross_net_mix import CrossNetMix
from ctrkit.layers.testing import assert_config_roundtrip, assert_saved_model_roundtrip


def _inputs(batch: int = 3, units: int = 5, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(batch, units)).astype("float32")


def _reference(x0: np.ndarray, layer: CrossNetMix) -> np.ndarray:
    """Expert by expert, sample by sample, as the DCN-Mix paper writes it."""
    npv = keras.ops.convert_to_numpy
    gating = npv(layer.gating)
    out = np.zeros_like(x0, dtype="float64")
    for b in range(x0.shape[0]):
        x_0 = x0[b].astype("float64")
        x_l = x_0
        for U, V, C, bias in zip(layer.U_list, layer.V_list, layer.C_list, layer.bias):
            U, V, C, bias = npv(U), npv(V), npv(C), npv(bias)
            logits = x_l @ gating
            gates = np.exp(logits - logits.max())
            gates /= gates.sum()
            mixed = np.zeros_like(x_0)
            for k in range(layer.num_experts):
                expert = x_0 * (U[k] @ np.tanh(C[k] @ np.tanh(V[k].T @ x_l)) + bias)
                mixed += gates[k] * expert
            x_l = mixed + x_l
        out[b] = x_l
    return out


def test_matches_per_expert_reference():
    x = _inputs()
    layer = CrossNetMix(low_rank=2, num_experts=3, layer_num=2)
    layer.build(x.shape)
    rng = np.random.default_rng(1)
    for w in layer.weights:
        w.assign(rng.normal(scale=0.5, size=w.shape).astype("float32"))
    out = keras.ops.convert_to_numpy(layer(x))
    assert out.shape == x.shape
    assert tuple(layer.U_list[0].shape) == (3, 5, 2)
    assert tuple(layer.C_list[0].shape) == (3, 2, 2)
    np.testing.assert_allclose(out, _reference(x, layer), rtol=1e-4, atol=1e-4)


def test_experts_start_different():
    layer = CrossNetMix(low_rank=4, num_experts=2)
    layer(_inputs())
    U = keras.ops.convert_to_numpy(layer.U_list[0])
    assert not np.allclose(U[0], U[1])


def test_l2_reg_regularises_u_v_and_c():
    layer = CrossNetMix(low_rank=2, num_experts=2, layer_num=2, l2_reg=0.01)
    layer(_inputs())
    assert len(layer.losses) == 6


def test_symbolic_output_shape():
    assert tuple(CrossNetMix(low_rank=4)(keras.Input((9,))).shape) == (None, 9)
    assert CrossNetMix().compute_output_shape((None, 9)) == (None, 9)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"low_rank": 0}, "low_rank"),
        ({"num_experts": 2.0}, "num_experts"),
        ({"layer_num": -1}, "layer_num"),
        ({"l2_reg": "0.1"}, "l2_reg"),
        ({"seed": 1.0}, "seed"),
    ],
)
def test_argument_validation(kwargs, name):
    with pytest.raises(ValueError, match=name):
        CrossNetMix(**kwargs)


def test_rejects_non_2d_input():
    with pytest.raises(ValueError, match="2D input"):
        CrossNetMix()(np.ones((2, 3, 4), "float32"))


def test_serialisation():
    assert_config_roundtrip(CrossNetMix(low_rank=8, num_experts=2, layer_num=3, l2_reg=0.1, seed=2, name="mix"))
    assert_saved_model_roundtrip(CrossNetMix(low_rank=2, num_experts=2), _inputs())
