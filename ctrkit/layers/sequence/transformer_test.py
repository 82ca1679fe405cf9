import keras
import numpy as np
import pytest

from ctrkit.layers.sequence.position_encoding import sinusoid_table
from ctrkit.layers.sequence.transformer import Transformer
from ctrkit.layers.testing import assert_config_roundtrip, assert_saved_model_roundtrip

RNG = np.random.default_rng(9)
X = RNG.normal(size=(3, 5, 4)).astype("float32")
LENGTHS = np.array([[3], [5], [1]], dtype="int32")


def numpy_transformer(layer, queries, keys, q_len, k_len):
    """Forward pass of `layer` (dropout off) written out in numpy."""
    w = {v.path.split("/")[-1]: keras.ops.convert_to_numpy(v) for v in layer.weights}
    h, d = layer.head_num, layer.att_embedding_size
    if layer.use_positional_encoding:
        queries = queries + sinusoid_table(queries.shape[1], queries.shape[2]) * 2.0
        keys = keys + sinusoid_table(keys.shape[1], keys.shape[2]) * 2.0

    def layer_norm(x):
        return (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-3)

    out = np.zeros((queries.shape[0], queries.shape[1], h * d))
    for b in range(queries.shape[0]):
        q_all, k_all, v_all = queries[b] @ w["query"], keys[b] @ w["key"], keys[b] @ w["value"]
        attended = np.zeros((queries.shape[1], h * d))
        for head in range(h):
            cols = slice(head * d, (head + 1) * d)
            q, k, v = q_all[:, cols], k_all[:, cols], v_all[:, cols]
            if layer.attention_type == "additive":
                s = (np.tanh(q[:, None] + k[None] + w["b"]) * w["v"]).sum(-1)
            elif layer.attention_type == "cos":
                unit = lambda x: x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)  # noqa: E731
                s = 20.0 * unit(q) @ unit(k).T
            elif layer.attention_type == "ln":
                q_ln, k_ln = layer.query_head_ln, layer.key_head_ln
                scale = lambda ln, x: layer_norm(x) * keras.ops.convert_to_numpy(ln.gamma) + keras.ops.convert_to_numpy(ln.beta)  # noqa: E731
                s = scale(q_ln, q) @ scale(k_ln, k).T / np.sqrt(d)
            else:
                s = q @ k.T / np.sqrt(d)
            allowed = np.broadcast_to(np.arange(keys.shape[1]) < k_len[b, 0], s.shape)
            if layer.blinding:
                allowed = allowed & ~np.eye(queries.shape[1], keys.shape[1], dtype=bool)
            for i in range(queries.shape[1]):
                if allowed[i].any():
                    e = np.exp(s[i][allowed[i]] - s[i][allowed[i]].max())
                    attended[i, cols] = (e / e.sum()) @ v[allowed[i]]
        r = attended + queries[b] if layer.use_res else attended
        if layer.use_layer_norm:
            r = layer_norm(r)
        if layer.use_feed_forward:
            ff = np.maximum(r @ w["fw1"], 0) @ w["fw2"]
            r = r + ff if layer.use_res else ff
            if layer.use_layer_norm:
                r = layer_norm(r)
        r[q_len[b, 0] :] = 0.0
        out[b] = r
    if layer.output_type is None:
        return out
    pooled = out.sum(1, keepdims=True)
    if layer.output_type == "mean":
        pooled /= np.maximum(q_len[:, :, None], 1)
    return pooled


CONFIGS = [
    {},
    {"attention_type": "additive"},
    {"attention_type": "cos"},
    {"attention_type": "ln", "blinding": False},
    {"use_layer_norm": True, "output_type": "sum"},
    {"blinding": False, "use_res": False, "output_type": None},
    {"use_positional_encoding": False, "use_feed_forward": False},
]


@pytest.mark.parametrize("config", CONFIGS)
def test_matches_numpy(config):
    layer = Transformer(att_embedding_size=2, head_num=2, **config)
    out = keras.ops.convert_to_numpy(layer([X, X, LENGTHS, LENGTHS]))
    expected = numpy_transformer(layer, X, X, LENGTHS, LENGTHS)
    np.testing.assert_allclose(out, expected, atol=1e-4)


@pytest.mark.parametrize("output_type", ["mean", "sum", None])
def test_padded_equals_unpadded_prefix(output_type):
    layer = Transformer(att_embedding_size=2, head_num=2, use_layer_norm=True, output_type=output_type)
    noisy = X.copy()
    noisy[0, 3:] = 50.0
    padded = keras.ops.convert_to_numpy(layer([noisy, noisy, LENGTHS, LENGTHS]))
    three = np.array([[3]], "int32")
    prefix = keras.ops.convert_to_numpy(layer([X[:1, :3], X[:1, :3], three, three]))
    if output_type is None:
        np.testing.assert_allclose(padded[0, :3], prefix[0], atol=1e-5)
        np.testing.assert_array_equal(padded[0, 3:], 0.0)
    else:
        np.testing.assert_allclose(padded[0], prefix[0], atol=1e-5)


def test_blinding_with_single_key_gives_zero_attention():
    layer = Transformer(
        att_embedding_size=2, head_num=2, use_res=False, use_feed_forward=False, output_type=None
    )
    out = keras.ops.convert_to_numpy(layer([X, X, LENGTHS, LENGTHS]))
    # Row 2 has one valid key, which blinding removes for the only valid query.
    np.testing.assert_array_equal(out[2], 0.0)


def test_cross_attention_with_different_lengths():
    keys = RNG.normal(size=(3, 7, 4)).astype("float32")
    key_len = np.array([[7], [2], [4]], "int32")
    layer = Transformer(att_embedding_size=4, head_num=1, blinding=False, output_type=None)
    out = keras.ops.convert_to_numpy(layer([X, keys, LENGTHS, key_len]))
    np.testing.assert_allclose(out, numpy_transformer(layer, X, keys, LENGTHS, key_len), atol=1e-4)


def test_masked_mode_equals_length_mode():
    ids_in = keras.Input((5,), dtype="int32")
    embedding = keras.layers.Embedding(9, 4, mask_zero=True)
    emb = embedding(ids_in)
    masked = Transformer(2, 2, supports_masking=True, output_type=None)
    seq = masked([emb, emb])
    pooled = keras.layers.GlobalAveragePooling1D()(seq)  # sees the query mask
    model = keras.Model(ids_in, [seq, pooled])

    ids = np.array([[1, 2, 3, 0, 0], [4, 5, 6, 7, 8]], "int32")
    lengths = (ids != 0).sum(1, keepdims=True).astype("int32")
    values = keras.ops.convert_to_numpy(embedding.embeddings)[ids]
    unmasked = Transformer(2, 2, output_type=None)
    unmasked.build([values.shape, values.shape, lengths.shape, lengths.shape])
    unmasked.set_weights(masked.get_weights())
    expected = keras.ops.convert_to_numpy(unmasked([values, values, lengths, lengths]))
    out, avg = model.predict(ids, verbose=0)
    np.testing.assert_allclose(out, expected, atol=1e-5)
    np.testing.assert_allclose(avg[0], expected[0, :3].mean(0), atol=1e-5)


def test_masked_mode_without_mask_raises():
    with pytest.raises(ValueError, match="mask"):
        Transformer(2, 2, supports_masking=True)([X, X])


def test_dropout_only_when_training():
    layer = Transformer(2, 2, dropout_rate=0.5)
    inputs = [X, X, LENGTHS, LENGTHS]
    a = keras.ops.convert_to_numpy(layer(inputs))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(inputs)), a)
    assert not np.allclose(keras.ops.convert_to_numpy(layer(inputs, training=True)), a)


def test_heads_must_cover_embedding():
    with pytest.raises(ValueError, match="att_embedding_size \\* head_num"):
        Transformer(att_embedding_size=1, head_num=8)([X, X, LENGTHS, LENGTHS])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"att_embedding_size": 0},
        {"head_num": 1.5},
        {"dropout_rate": -0.1},
        {"blinding": 1},
        {"use_res": None},
        {"seed": "1"},
        {"attention_type": "dot"},
        {"output_type": "max"},
    ],
)
def test_argument_validation(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        Transformer(**kwargs)


def test_ln_attention_scale_and_offset_are_learned_per_head_dimension():
    layer = Transformer(att_embedding_size=2, head_num=2, attention_type="ln")
    layer([X, X, LENGTHS, LENGTHS])
    rng = np.random.default_rng(1)
    for ln in (layer.query_head_ln, layer.key_head_ln):
        assert ln.gamma.shape == (2,) and ln.beta.shape == (2,)
        ln.gamma.assign(rng.normal(size=2).astype("float32"))
        ln.beta.assign(rng.normal(size=2).astype("float32"))
    out = keras.ops.convert_to_numpy(layer([X, X, LENGTHS, LENGTHS]))
    np.testing.assert_allclose(out, numpy_transformer(layer, X, X, LENGTHS, LENGTHS), atol=1e-4)


def test_output_shape():
    shapes = [(None, 5, 4), (None, 5, 4), (None, 1), (None, 1)]
    assert Transformer(2, 2).compute_output_shape(shapes) == (None, 1, 4)
    assert Transformer(2, 2, output_type=None).compute_output_shape(shapes) == (None, 5, 4)


def test_serialization():
    for config in CONFIGS:
        assert_config_roundtrip(Transformer(att_embedding_size=2, head_num=2, **config))
    layer = Transformer(
        att_embedding_size=2, head_num=2, attention_type="additive", use_layer_norm=True
    )
    assert_saved_model_roundtrip(layer, [X, X, LENGTHS, LENGTHS], atol=1e-5)
