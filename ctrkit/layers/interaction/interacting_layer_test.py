import numpy as np
import pytest
from keras import ops

from ctrkit.layers.interaction.interacting_layer import InteractingLayer
from ctrkit.layers.testing import assert_config_roundtrip, assert_saved_model_roundtrip

RNG = np.random.default_rng(2)


def _inputs(batch=3, fields=5, emb=6):
    return RNG.normal(size=(batch, fields, emb)).astype("float32")


def _numpy_attention(x, wq, wk, wv, wres, heads, size, scaling):
    outputs = []
    for h in range(heads):
        cols = slice(h * size, (h + 1) * size)
        q, k, v = x @ wq[:, cols], x @ wk[:, cols], x @ wv[:, cols]
        logits = q @ k.transpose(0, 2, 1)
        if scaling:
            logits = logits / np.sqrt(size)
        weights = np.exp(logits - logits.max(axis=-1, keepdims=True))
        weights /= weights.sum(axis=-1, keepdims=True)
        outputs.append(weights @ v)
    result = np.concatenate(outputs, axis=-1)
    if wres is not None:
        result = result + x @ wres
    return np.maximum(result, 0.0)


@pytest.mark.parametrize("use_res", [True, False])
@pytest.mark.parametrize("scaling", [True, False])
def test_matches_numpy_multi_head_attention(use_res, scaling):
    x = _inputs()
    layer = InteractingLayer(att_embedding_size=4, head_num=3, use_res=use_res, scaling=scaling)
    out = ops.convert_to_numpy(layer(x))
    weights = [ops.convert_to_numpy(w) for w in (layer.W_Query, layer.W_key, layer.W_Value)]
    wres = ops.convert_to_numpy(layer.W_Res) if use_res else None
    expected = _numpy_attention(x, *weights, wres, heads=3, size=4, scaling=scaling)
    assert out.shape == (3, 5, 12)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


def test_weights_and_output_shape():
    layer = InteractingLayer(use_res=False)
    layer.build((None, 7, 10))
    assert [tuple(w.shape) for w in layer.weights] == [(10, 16)] * 3
    assert layer.compute_output_shape((None, 7, 10)) == (None, 7, 16)
    # distinct seeds per projection, so the heads do not start identical
    assert not np.allclose(ops.convert_to_numpy(layer.W_Query), ops.convert_to_numpy(layer.W_key))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"att_embedding_size": 0}, "att_embedding_size"),
        ({"head_num": 1.5}, "head_num"),
        ({"seed": "1"}, "seed"),
    ],
)
def test_invalid_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        InteractingLayer(**kwargs)


def test_rejects_non_3d_input():
    with pytest.raises(ValueError, match="3D"):
        InteractingLayer()(np.ones((2, 4), "float32"))


def test_serialization():
    layer = InteractingLayer(att_embedding_size=4, head_num=2, scaling=True)
    assert_config_roundtrip(layer)
    assert_saved_model_roundtrip(layer, _inputs(), atol=1e-5)
