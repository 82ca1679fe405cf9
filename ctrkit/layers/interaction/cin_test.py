import keras
import numpy as np
import pytest

from ctrkit.layers.interaction.cin import CIN
from ctrkit.layers.testing import assert_config_roundtrip, assert_saved_model_roundtrip


def _inputs(batch: int = 2, fields: int = 3, emb: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(batch, fields, emb)).astype("float32")


def _relu(total: float, e: int, h: int) -> float:
    return max(total, 0.0)


def _reference(x: np.ndarray, layer: CIN, activation=_relu, per_layer_activation=None) -> np.ndarray:
    """Loops over the paper's formula; `activation(value, e, h)`, or
    `per_layer_activation[k](value, e, h)` for layer k."""
    npv = keras.ops.convert_to_numpy
    batch, fields, emb = x.shape
    last = len(layer.layer_size) - 1
    result = []
    for b in range(batch):
        x0 = x[b].astype("float64")
        hidden = x0
        pooled = []
        for k, size in enumerate(layer.layer_size):
            W, bias = npv(layer.filters[k]), npv(layer.bias[k])
            maps = np.zeros((size, emb))
            for h in range(size):
                for e in range(emb):
                    total = bias[h]
                    for i in range(fields):
                        for j in range(hidden.shape[0]):
                            total += W[i * hidden.shape[0] + j, h] * x0[i, e] * hidden[j, e]
                    act = per_layer_activation[k] if per_layer_activation else activation
                    maps[h, e] = act(total, e, h)
            if layer.split_half and k != last:
                hidden, direct = maps[: size // 2], maps[size // 2 :]
            else:
                hidden, direct = maps, maps
            pooled.extend(direct.sum(axis=1))
        result.append(pooled)
    return np.array(result)


@pytest.mark.parametrize("split_half, featuremap_num", [(True, 2 // 2 + 4 // 2 + 3), (False, 2 + 4 + 3)])
def test_matches_reference(split_half, featuremap_num):
    x = _inputs()
    layer = CIN(layer_size=(2, 4, 3), split_half=split_half)
    layer.build(x.shape)
    rng = np.random.default_rng(1)
    for w in layer.weights:
        w.assign(rng.normal(scale=0.5, size=w.shape).astype("float32"))
    out = keras.ops.convert_to_numpy(layer(x))
    assert out.shape == (2, featuremap_num)
    np.testing.assert_allclose(out, _reference(x, layer), rtol=1e-4, atol=1e-4)


def test_an_activation_with_weights_per_map_sees_batch_embedding_maps():
    # PReLU built on (batch, E, maps) holds one slope per (e, h).
    x = _inputs(batch=3, fields=4, emb=2)
    layer = CIN(layer_size=(4, 3), activation=keras.layers.PReLU)
    layer.build(x.shape)
    rng = np.random.default_rng(2)
    for w in layer.weights:
        w.assign(rng.normal(scale=0.5, size=w.shape).astype("float32"))
    slopes = [keras.ops.convert_to_numpy(act.alpha) for act in layer.activation_layers]
    assert slopes[0].shape == (2, 4)

    def prelu(k):
        return lambda total, e, h: total if total > 0 else slopes[k][e, h] * total

    expected = _reference(x, layer, per_layer_activation=[prelu(0), prelu(1)])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), expected, rtol=1e-4, atol=1e-4)


def test_first_layer_pairs_meet_both_filter_rows():
    # X^0 with itself: the filter rows of (i, j) and (j, i) both count,
    # the diagonal once, however asymmetric the filter is.
    x = _inputs(batch=2, fields=3, emb=2)
    layer = CIN(layer_size=(1,), split_half=False)
    layer.build(x.shape)
    filters = np.zeros((9, 1), "float32")
    filters[0 * 3 + 1, 0] = 2.0  # (0, 1) only
    filters[2 * 3 + 2, 0] = 1.0  # (2, 2)
    layer.filters[0].assign(filters)
    expected = np.maximum(2.0 * x[:, 0] * x[:, 1] + x[:, 2] * x[:, 2], 0.0).sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "layer_size, split_half, featuremap_num",
    [
        ((128, 128), True, 64 + 128),
        ((128, 128), False, 256),
        ((6, 4, 5), True, (6 + 4) // 2 + 5),
        ((7,), True, 7),
        ((6, 4, 5), False, 15),
    ],
)
def test_output_shape(layer_size, split_half, featuremap_num):
    layer = CIN(layer_size=layer_size, split_half=split_half)
    assert tuple(layer(keras.Input((5, 3))).shape) == (None, featuremap_num)
    assert layer.compute_output_shape((None, 5, 3)) == (None, featuremap_num)


def test_filter_shapes_follow_the_maps_passed_on():
    layer = CIN(layer_size=(6, 4, 5))
    layer.build((None, 3, 2))
    assert [tuple(f.shape) for f in layer.filters] == [(3 * 3, 6), (3 * 3, 4), (3 * 2, 5)]


def test_l2_reg_default_regularises_each_filter():
    layer = CIN(layer_size=(4, 2))
    layer(_inputs())
    assert len(layer.losses) == 2


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"layer_size": ()}, "layer_size"),
        ({"layer_size": (4, 0)}, "layer_size"),
        ({"layer_size": (3, 4), "split_half": True}, "even"),
        ({"split_half": 1}, "split_half"),
        ({"activation": "no_such_activation"}, "activation"),
        ({"l2_reg": -0.1}, "l2_reg"),
        ({"seed": "7"}, "seed"),
    ],
)
def test_argument_validation(kwargs, name):
    with pytest.raises(ValueError, match=name):
        CIN(**kwargs)


def test_odd_sizes_are_fine_without_split_half():
    assert CIN(layer_size=(3, 5), split_half=False).compute_output_shape((None, 4, 2)) == (None, 8)


def test_rejects_non_3d_input():
    with pytest.raises(ValueError, match="3D input"):
        CIN()(np.ones((2, 4), "float32"))


def test_serialisation():
    assert_config_roundtrip(CIN(layer_size=(4, 3), activation=keras.layers.PReLU, l2_reg=0.0, seed=3, name="cin"))
    assert_saved_model_roundtrip(CIN(layer_size=(4, 2), activation="dice"), _inputs(batch=4))
    assert_saved_model_roundtrip(CIN(layer_size=(4, 3), split_half=False), _inputs(batch=4))
