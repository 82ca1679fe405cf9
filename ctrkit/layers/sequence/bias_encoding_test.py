import keras
import numpy as np
import pytest

from ctrkit.layers.sequence.bias_encoding import BiasEncoding
from ctrkit.layers.testing import assert_config_roundtrip, assert_saved_model_roundtrip

RNG = np.random.default_rng(6)
SESSIONS = [RNG.normal(size=(2, 4, 3)).astype("float32") for _ in range(3)]


def randomize(layer):
    """Give the biases visible values (they start near zero)."""
    layer.build([s.shape for s in SESSIONS])
    layer.set_weights([RNG.normal(size=w.shape).astype("float32") for w in layer.get_weights()])


def test_matches_numpy():
    layer = BiasEncoding(3)
    randomize(layer)
    out = [keras.ops.convert_to_numpy(o) for o in layer(SESSIONS)]
    sess = keras.ops.convert_to_numpy(layer.sess_bias_embedding)
    seq = keras.ops.convert_to_numpy(layer.seq_bias_embedding)
    item = keras.ops.convert_to_numpy(layer.item_bias_embedding)
    assert sess.shape == (3, 1, 1) and seq.shape == (1, 4, 1) and item.shape == (1, 1, 3)
    for k in range(3):
        np.testing.assert_allclose(out[k], SESSIONS[k] + sess[k] + seq + item, atol=1e-6)


def test_initial_biases_are_small():
    layer = BiasEncoding(3)
    layer.build([s.shape for s in SESSIONS])
    for weight in layer.get_weights():
        assert np.abs(weight).max() < 1e-3


def test_masks_are_passed_on():
    ids = [keras.Input((4,), dtype="int32") for _ in range(2)]
    embedding = keras.layers.Embedding(9, 3, mask_zero=True)
    encoded = BiasEncoding(2)([embedding(i) for i in ids])
    pooled = [keras.layers.GlobalAveragePooling1D()(e) for e in encoded]
    model = keras.Model(ids, encoded + pooled)
    data = [np.array([[1, 2, 0, 0]], "int32"), np.array([[3, 4, 5, 0]], "int32")]
    seq0, seq1, avg0, avg1 = model.predict(data, verbose=0)
    np.testing.assert_allclose(avg0, seq0[:, :2].mean(1), atol=1e-6)
    np.testing.assert_allclose(avg1, seq1[:, :3].mean(1), atol=1e-6)


@pytest.mark.parametrize("kwargs", [{"sess_max_count": 0}, {"sess_max_count": 2.0}, {"sess_max_count": 2, "seed": "1"}])
def test_argument_validation(kwargs):
    with pytest.raises(ValueError, match=list(kwargs)[-1]):
        BiasEncoding(**kwargs)


@pytest.mark.parametrize(
    "inputs", [SESSIONS[:2], [SESSIONS[0], SESSIONS[1], SESSIONS[2][:, :3]]]
)
def test_shape_validation(inputs):
    with pytest.raises(ValueError):
        BiasEncoding(3)(inputs)


def test_serialization():
    layer = BiasEncoding(3, seed=7)
    assert_config_roundtrip(layer)
    randomize(layer)
    assert_saved_model_roundtrip(layer, SESSIONS)
