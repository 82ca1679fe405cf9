import itertools

import keras
import numpy as np
import pytest

from ctrkit.layers.interaction.afm_layer import AFMLayer
from ctrkit.layers.testing import assert_config_roundtrip, assert_saved_model_roundtrip


def _fields(n: int = 4, batch: int = 3, emb: int = 5, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(batch, 1, emb)).astype("float32") for _ in range(n)]


def _reference(fields: list[np.ndarray], layer: AFMLayer) -> tuple[np.ndarray, np.ndarray]:
    npv = keras.ops.convert_to_numpy
    W, b = npv(layer.attention_W), npv(layer.attention_b)
    h, p = npv(layer.projection_h), npv(layer.projection_p)
    pairs = list(itertools.combinations(range(len(fields)), 2))
    batch = fields[0].shape[0]
    outputs, scores = np.zeros((batch, 1)), np.zeros((batch, len(pairs), 1))
    for s in range(batch):
        interactions = [fields[i][s, 0] * fields[j][s, 0] for i, j in pairs]
        logits = np.array([np.maximum(u @ W + b, 0.0) @ h[:, 0] for u in interactions])
        weights = np.exp(logits - logits.max())
        weights /= weights.sum()
        scores[s, :, 0] = weights
        outputs[s, 0] = sum(a * u for a, u in zip(weights, interactions)) @ p[:, 0]
    return outputs, scores


def _randomised_layer(fields: list[np.ndarray], **kwargs) -> AFMLayer:
    layer = AFMLayer(attention_factor=3, **kwargs)
    layer.build([f.shape for f in fields])
    rng = np.random.default_rng(1)
    for w in layer.weights:
        w.assign(rng.normal(size=w.shape).astype("float32"))
    return layer


def test_matches_reference_and_exposes_attention_weights():
    fields = _fields()
    layer = _randomised_layer(fields)
    out = keras.ops.convert_to_numpy(layer(fields))
    expected_out, expected_scores = _reference(fields, layer)
    assert out.shape == (3, 1)
    np.testing.assert_allclose(out, expected_out, rtol=1e-4, atol=1e-5)
    scores = keras.ops.convert_to_numpy(layer.normalized_att_score)
    assert scores.shape == (3, 6, 1)
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(scores.sum(axis=1), np.ones((3, 1)), rtol=1e-5)


def test_attention_weights_sub_model_of_a_functional_model():
    fields = _fields()
    inputs = [keras.Input((1, 5), name=f"field{i}") for i in range(4)]
    afm = AFMLayer(attention_factor=3)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(afm(inputs)))
    model.compile("adam", "binary_crossentropy")
    model.fit(fields, np.array([[0.0], [1.0], [1.0]]), epochs=2, verbose=0)

    weights_model = keras.Model(model.input, afm.attention_scores(afm.input))
    attentional_weights = weights_model.predict(fields, verbose=0)
    _, expected = _reference(fields, afm)
    np.testing.assert_allclose(attentional_weights, expected, rtol=1e-4, atol=1e-6)

    # The sub-model reads the layer's current weights, not a copy.
    afm.projection_h.assign(-afm.projection_h)
    _, expected = _reference(fields, afm)
    np.testing.assert_allclose(weights_model.predict(fields, verbose=0), expected, rtol=1e-4, atol=1e-6)


def test_attention_scores_on_concrete_inputs():
    fields = _fields()
    layer = _randomised_layer(fields)
    _, expected = _reference(fields, layer)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer.attention_scores(fields)), expected, rtol=1e-4, atol=1e-6
    )
    with pytest.raises(ValueError, match="3 fields"):
        layer.attention_scores(fields[:3])


def test_dropout_only_in_training():
    fields = _fields()
    layer = _randomised_layer(fields, dropout_rate=0.5)
    expected, _ = _reference(fields, layer)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(fields, training=False)), expected, rtol=1e-4, atol=1e-5
    )
    trained = keras.ops.convert_to_numpy(layer(fields, training=True))
    assert not np.allclose(trained, expected, rtol=1e-4, atol=1e-5)


def test_l2_reg_w_regularises_the_attention_kernel():
    fields = _fields()
    layer = AFMLayer(l2_reg_w=0.01)
    layer(fields)
    assert len(layer.losses) == 1
    plain = AFMLayer()
    plain(fields)
    assert len(plain.losses) == 0


def test_symbolic_output_shape():
    inputs = [keras.Input((1, 4)) for _ in range(5)]
    layer = AFMLayer()
    assert tuple(layer(inputs).shape) == (None, 1)
    assert layer.compute_output_shape([(None, 1, 4)] * 5) == (None, 1)
    assert tuple(layer.attention_scores(inputs).shape) == (None, 10, 1)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"attention_factor": 0}, "attention_factor"),
        ({"l2_reg_w": -1}, "l2_reg_w"),
        ({"dropout_rate": 1.0}, "dropout_rate"),
        ({"seed": None}, "seed"),
    ],
)
def test_argument_validation(kwargs, name):
    with pytest.raises(ValueError, match=name):
        AFMLayer(**kwargs)


def test_rejects_a_single_field():
    with pytest.raises(ValueError, match="at least 2 inputs"):
        AFMLayer()([np.ones((2, 1, 4), "float32")])


def test_serialisation():
    assert_config_roundtrip(AFMLayer(attention_factor=8, l2_reg_w=0.1, dropout_rate=0.2, seed=4, name="afm"))
    assert_saved_model_roundtrip(AFMLayer(attention_factor=2, dropout_rate=0.5), _fields(n=3))
