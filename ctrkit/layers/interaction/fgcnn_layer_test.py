import numpy as np
import pytest
from keras import ops

from ctrkit.layers.interaction.fgcnn_layer import FGCNNLayer
from ctrkit.layers.testing import assert_config_roundtrip, assert_saved_model_roundtrip

RNG = np.random.default_rng(5)


def _inputs(batch=2, fields=8, emb=3):
    return RNG.normal(size=(batch, fields, emb)).astype("float32")


def _numpy_fgcnn(x, layer):
    maps, new_features = x[..., None], []
    for conv, dense, pool, new_maps in zip(
        layer.conv_layers, layer.dense_layers, layer.pooling_width, layer.new_maps
    ):
        kernel, bias = (ops.convert_to_numpy(w) for w in conv.weights)
        width = kernel.shape[0]
        top = (width - 1) // 2  # "same" padding puts the extra row at the bottom
        padded = np.pad(maps, ((0, 0), (top, width - 1 - top), (0, 0), (0, 0)))
        rows = maps.shape[1]
        conv_out = sum(
            np.einsum("brec,cf->bref", padded[:, t : t + rows], kernel[t, 0]) for t in range(width)
        )
        conv_out = np.tanh(conv_out + bias)
        pooled_rows = rows // pool
        maps = conv_out[:, : pooled_rows * pool].reshape(
            x.shape[0], pooled_rows, pool, x.shape[2], -1
        ).max(axis=2)
        d_kernel, d_bias = (ops.convert_to_numpy(w) for w in dense.weights)
        generated = np.tanh(maps.reshape(x.shape[0], -1) @ d_kernel + d_bias)
        new_features.append(generated.reshape(x.shape[0], pooled_rows * new_maps, x.shape[2]))
    return np.concatenate(new_features, axis=1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"filters": (3, 2), "kernel_width": (3, 2), "new_maps": (2, 1), "pooling_width": (2, 2)},
        {"filters": (4,), "kernel_width": (1,), "new_maps": (3,), "pooling_width": (3,)},
    ],
)
def test_matches_numpy_convolution_pooling_recombination(kwargs):
    x = _inputs(fields=9)
    layer = FGCNNLayer(**kwargs)
    out = ops.convert_to_numpy(layer(x))
    assert out.shape == layer.compute_output_shape(x.shape)
    np.testing.assert_allclose(out, _numpy_fgcnn(x, layer), rtol=1e-4, atol=1e-5)


def test_default_output_shape():
    layer = FGCNNLayer()
    # 14 fields -> 7 -> 3 pooled rows, 3 new maps per row per stage
    assert tuple(layer(_inputs(fields=14)).shape) == (2, 3 * 7 + 3 * 3, 3)
    assert layer.compute_output_shape((None, 14, 3)) == (None, 30, 3)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"filters": (14,)}, "same length"),
        ({"kernel_width": (7, 0)}, "kernel_width"),
        ({"new_maps": 3}, "new_maps"),
        ({"pooling_width": ()}, "pooling_width"),
    ],
)
def test_invalid_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        FGCNNLayer(**kwargs)


def test_invalid_inputs():
    with pytest.raises(ValueError, match="pooling_width"):
        FGCNNLayer()(_inputs(fields=3))
    with pytest.raises(ValueError, match="3D"):
        FGCNNLayer()(np.ones((2, 8), "float32"))


def test_serialization():
    layer = FGCNNLayer(filters=(3, 2), kernel_width=(3, 3), new_maps=(2, 2), pooling_width=(2, 2))
    assert_config_roundtrip(layer)
    assert_saved_model_roundtrip(layer, _inputs(), atol=1e-5)
