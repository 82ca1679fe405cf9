import warnings

import keras
import numpy as np
import pytest

from ctrkit.layers.sequence.dynamic_gru import AttentionalGRUCell, DynamicGRU
from ctrkit.layers.testing import assert_config_roundtrip, assert_saved_model_roundtrip

RNG = np.random.default_rng(7)
SEQ = RNG.normal(size=(3, 5, 4)).astype("float32")
LENGTHS = np.array([[3], [5], [0]], dtype="int32")
SCORE = RNG.uniform(size=(3, 5, 1)).astype("float32")
TYPES = ["GRU", "AIGRU", "AGRU", "AUGRU"]


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def numpy_gru(layer, seq, lengths, score):
    """Step-by-step reference: outputs (zeros past the length) and final state."""
    wg, bg, wc, bc = layer.get_weights()
    units = bc.shape[0]
    outputs = np.zeros(seq.shape[:2] + (units,), "float32")
    final = np.zeros((seq.shape[0], units), "float32")
    for i, n in enumerate(lengths[:, 0]):
        h = np.zeros(units)
        for t in range(n):
            x, a = seq[i, t], score[i, t, 0]
            if layer.gru_type == "AIGRU":
                x = x * a
            gates = sigmoid(np.concatenate([x, h]) @ wg + bg)
            r, u = gates[:units], gates[units:]
            c = np.tanh(np.concatenate([x, r * h]) @ wc + bc)
            if layer.gru_type == "AGRU":
                h = (1 - a) * h + a * c
            elif layer.gru_type == "AUGRU":
                step = a * (1 - u)
                h = (1 - step) * h + step * c
            else:
                h = u * h + (1 - u) * c
            outputs[i, t] = h
        final[i] = h
    return outputs, final


def call(layer, seq=SEQ, lengths=LENGTHS, score=SCORE):
    inputs = [seq, lengths] if layer.gru_type == "GRU" else [seq, lengths, score]
    return keras.ops.convert_to_numpy(layer(inputs))


@pytest.mark.parametrize("gru_type", TYPES)
def test_matches_numpy(gru_type):
    seq_layer = DynamicGRU(num_units=6, gru_type=gru_type)
    outputs = call(seq_layer)
    state_layer = DynamicGRU(num_units=6, gru_type=gru_type, return_sequence=False)
    state_layer.build([SEQ.shape, LENGTHS.shape] + ([] if gru_type == "GRU" else [SCORE.shape]))
    state_layer.set_weights(seq_layer.get_weights())
    state = call(state_layer)

    ref_outputs, ref_state = numpy_gru(seq_layer, SEQ, LENGTHS, SCORE)
    assert outputs.shape == (3, 5, 6) and state.shape == (3, 1, 6)
    np.testing.assert_allclose(outputs, ref_outputs, atol=1e-5)
    np.testing.assert_allclose(state[:, 0], ref_state, atol=1e-5)
    np.testing.assert_array_equal(outputs[0, 3:], 0.0)
    np.testing.assert_array_equal(state[2], 0.0)


@pytest.mark.parametrize("gru_type", TYPES)
def test_padded_steps_do_not_update_state(gru_type):
    layer = DynamicGRU(gru_type=gru_type, return_sequence=False)
    noisy_seq, noisy_score = SEQ.copy(), SCORE.copy()
    noisy_seq[0, 3:] = 10.0
    noisy_score[0, 3:] = 1.0
    padded = call(layer, noisy_seq, LENGTHS, noisy_score)
    prefix = call(layer, SEQ[:1, :3], np.array([[3]], "int32"), SCORE[:1, :3])
    np.testing.assert_allclose(padded[0], prefix[0], atol=1e-6)


def test_augru_with_zero_score_keeps_state_and_agru_with_one_score_takes_candidate():
    zero = np.zeros_like(SCORE)
    out = call(DynamicGRU(gru_type="AUGRU"), score=zero)
    np.testing.assert_array_equal(out[:2], 0.0)

    agru = DynamicGRU(gru_type="AGRU")
    ones = np.ones_like(SCORE)
    out = call(agru, score=ones)
    ref, _ = numpy_gru(agru, SEQ, LENGTHS, ones)
    np.testing.assert_allclose(out, ref, atol=1e-5)


def test_aigru_scales_inputs_and_accepts_two_inputs():
    layer = DynamicGRU(gru_type="AIGRU")
    with_score = call(layer)
    scaled = keras.ops.convert_to_numpy(layer([SEQ * SCORE, LENGTHS]))
    np.testing.assert_allclose(with_score, scaled, atol=1e-6)


def test_default_units_follow_embedding_size():
    assert call(DynamicGRU()).shape == (3, 5, 4)
    assert DynamicGRU(8, return_sequence=False).compute_output_shape(
        [(None, 5, 4), (None, 1)]
    ) == (None, 1, 8)


@pytest.mark.parametrize(
    "kwargs",
    [{"num_units": 0}, {"num_units": 2.5}, {"gru_type": "LSTM"}, {"return_sequence": 1}],
)
def test_argument_validation(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        DynamicGRU(**kwargs)


def test_cell_argument_validation():
    with pytest.raises(ValueError, match="units"):
        AttentionalGRUCell(0)
    with pytest.raises(ValueError, match="gru_type"):
        AttentionalGRUCell(4, "RNN")


@pytest.mark.parametrize(
    "gru_type,inputs",
    [
        ("AUGRU", [SEQ, LENGTHS]),
        ("GRU", [SEQ, LENGTHS, SCORE]),
        ("AGRU", [SEQ, LENGTHS, SCORE[:, :4]]),
        ("GRU", [SEQ[:, 0], LENGTHS]),
    ],
)
def test_bad_inputs_raise(gru_type, inputs):
    with pytest.raises(ValueError):
        DynamicGRU(gru_type=gru_type)(inputs)


@pytest.mark.parametrize("gru_type", ["GRU", "AUGRU"])
def test_serialization(gru_type):
    layer = DynamicGRU(num_units=3, gru_type=gru_type, return_sequence=False)
    assert_config_roundtrip(layer)
    assert_config_roundtrip(AttentionalGRUCell(3, gru_type))
    inputs = [SEQ, LENGTHS] if gru_type == "GRU" else [SEQ, LENGTHS, SCORE]
    assert_saved_model_roundtrip(layer, inputs, atol=1e-5)


def test_masked_input_is_accepted_and_output_carries_no_mask():
    ids_in = keras.Input((5,), dtype="int32")
    len_in = keras.Input((1,), dtype="int32")
    emb = keras.layers.Embedding(10, 4, mask_zero=True)(ids_in)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = DynamicGRU()([emb, len_in])
    assert getattr(out, "_keras_mask", None) is None
