import numpy as np
import pytest
from keras import ops

from ctrkit.layers.interaction.senet_layer import SENETLayer
from ctrkit.layers.testing import assert_config_roundtrip, assert_saved_model_roundtrip

RNG = np.random.default_rng(3)


def _inputs(batch=3, fields=6, emb=4):
    return [RNG.normal(size=(batch, 1, emb)).astype("float32") for _ in range(fields)]


def test_shapes_and_excitation_size():
    layer = SENETLayer(reduction_ratio=3)
    outputs = layer(_inputs())
    assert isinstance(outputs, list) and len(outputs) == 6
    assert all(tuple(o.shape) == (3, 1, 4) for o in outputs)
    assert tuple(layer.W_1.shape) == (6, 2) and tuple(layer.W_2.shape) == (2, 6)
    assert layer.compute_output_shape([(None, 1, 4)] * 6) == [(None, 1, 4)] * 6
    # fewer fields than the ratio still keeps one hidden unit
    small = SENETLayer(reduction_ratio=5)
    small(_inputs(fields=2))
    assert tuple(small.W_1.shape) == (2, 1)


def test_matches_numpy_squeeze_excitation():
    inputs = _inputs()
    layer = SENETLayer(reduction_ratio=2)
    outputs = [ops.convert_to_numpy(o) for o in layer(inputs)]
    w1, w2 = ops.convert_to_numpy(layer.W_1), ops.convert_to_numpy(layer.W_2)
    stacked = np.concatenate(inputs, axis=1)
    a = np.maximum(np.maximum(stacked.mean(axis=-1) @ w1, 0) @ w2, 0)
    for f, out in enumerate(outputs):
        np.testing.assert_allclose(out, inputs[f] * a[:, f, None, None], rtol=1e-5, atol=1e-6)


def test_equal_inputs_give_proportional_outputs():
    x = np.abs(RNG.normal(size=(2, 1, 5))).astype("float32") + 0.1
    layer = SENETLayer(reduction_ratio=1)
    outputs = [ops.convert_to_numpy(o) for o in layer([x] * 4)]
    for out in outputs:
        ratio = out / x
        # one scale per row and field, shared by every embedding dimension
        np.testing.assert_allclose(ratio, np.repeat(ratio[..., :1], 5, axis=-1), rtol=1e-5, atol=1e-6)
        assert np.all(ratio >= 0)


def test_compute_mask_is_one_none_per_field():
    layer = SENETLayer()
    inputs = _inputs(fields=3)
    assert layer.compute_mask(inputs, [None] * 3) == [None, None, None]


def test_invalid_arguments_and_inputs():
    with pytest.raises(ValueError, match="reduction_ratio"):
        SENETLayer(reduction_ratio=0)
    with pytest.raises(ValueError, match="seed"):
        SENETLayer(seed=None)
    with pytest.raises(ValueError, match="at least 2 inputs"):
        SENETLayer()(_inputs(fields=1))
    with pytest.raises(ValueError, match="at least 2 inputs"):
        SENETLayer()(np.ones((2, 3, 4), "float32"))
    with pytest.raises(ValueError, match="3D"):
        SENETLayer()([np.ones((2, 4), "float32")] * 3)


def test_serialization():
    layer = SENETLayer(reduction_ratio=2, seed=7)
    assert_config_roundtrip(layer)
    outputs = assert_saved_model_roundtrip(layer, _inputs(fields=4))
    assert len(outputs) == 4
