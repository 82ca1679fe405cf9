import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest
import tensorflow as tf

from ctrkit.layers.testing import assert_config_roundtrip
from ctrkit.layers.utils import (
    Hash,
    Linear,
    NoMask,
    PaddingMask,
    ReduceSum,
    SequenceMask,
    Split,
    div,
    reduce_max,
    reduce_mean,
    reduce_sum,
    softmax,
)


def _hdf5_roundtrip(inputs, outputs, arrays, tmp_path):
    """The model of `inputs -> outputs` saved as DeepCTR saves models (HDF5)
    and reloaded: Keras rebuilds every operation from its class name."""
    model = keras.Model(inputs, outputs)
    path = str(tmp_path / "model.h5")
    keras.saving.save_model(model, path)
    reloaded = keras.models.load_model(path)
    expected, actual = model.predict(arrays, verbose=0), reloaded.predict(arrays, verbose=0)
    for e, a in zip(expected if isinstance(expected, list) else [expected], actual if isinstance(actual, list) else [actual]):
        np.testing.assert_array_equal(a, e)
    return reloaded


def test_hash_outputs_int64_ids_in_range_as_deepctr():
    x = np.array([["a"], ["b"], ["0"], [""]], dtype=object)
    ids = Hash(10, mask_zero=True)(tf.constant(x))
    assert ids.dtype == tf.int64
    values = ids.numpy().reshape(-1)
    assert values[2] == 0 and values[3] == 0 and (values[:2] >= 1).all() and (values < 10).all()
    assert Hash(10).compute_output_spec(keras.KerasTensor((None, 1), dtype="string")).dtype == "int64"
    assert Hash(7)(tf.constant([[3], [3]], tf.int32)).numpy().tolist()[0] == Hash(7)(tf.constant([["3"]])).numpy()[0].tolist()


def test_hash_checks_its_arguments():
    with pytest.raises(ValueError, match="num_buckets"):
        Hash(0)
    with pytest.raises(ValueError, match="mask_zero"):
        Hash(8, mask_zero=1)
    with pytest.raises(ValueError, match="at least 2"):
        Hash(1, mask_zero=True)
    assert_config_roundtrip(Hash(5, mask_zero=True))


def test_linear_checks_its_arguments():
    with pytest.raises(ValueError, match="mode"):
        Linear(mode=3)
    with pytest.raises(ValueError, match="l2_reg"):
        Linear(l2_reg=-1)
    assert_config_roundtrip(Linear(0.1, mode=2, use_bias=True, seed=3))


def test_reduce_sum(tmp_path):
    x = np.arange(12, dtype="float32").reshape(2, 3, 2)
    np.testing.assert_array_equal(np.asarray(ReduceSum(axis=1)(x)), x.sum(axis=1))
    np.testing.assert_array_equal(np.asarray(ReduceSum(axis=-1, keepdims=True)(x)), x.sum(axis=-1, keepdims=True))
    assert ReduceSum(axis=1, keepdims=True).compute_output_shape((None, 3, 2)) == (None, 1, 2)
    assert_config_roundtrip(ReduceSum(axis=2, keepdims=True))
    inputs = keras.Input((3, 2))
    _hdf5_roundtrip(inputs, ReduceSum(axis=1)(inputs), x, tmp_path)


def test_split(tmp_path):
    x = np.arange(12, dtype="float32").reshape(2, 3, 2)
    parts = Split(3, axis=1)(x)
    assert len(parts) == 3 and all(np.array_equal(np.asarray(p), x[:, i : i + 1]) for i, p in enumerate(parts))
    assert Split(3, axis=1).compute_output_shape((None, 3, 2)) == [(None, 1, 2)] * 3
    with pytest.raises(ValueError, match="num_splits"):
        Split(0)
    assert_config_roundtrip(Split(3, axis=1))
    inputs = keras.Input((3, 2))
    _hdf5_roundtrip(inputs, keras.layers.Concatenate()(Split(3, axis=1)(inputs)[::-1]), x, tmp_path)


def test_sequence_mask(tmp_path):
    lengths = np.array([[0], [2], [5]], dtype="float32")
    mask = SequenceMask(4)(lengths)
    assert mask.dtype == tf.bool
    assert np.asarray(mask).tolist() == [[False] * 4, [True, True, False, False], [True] * 4]
    with pytest.raises(ValueError, match="maxlen"):
        SequenceMask(0)
    assert_config_roundtrip(SequenceMask(3))
    inputs = keras.Input((1,))
    _hdf5_roundtrip(inputs, SequenceMask(4)(inputs), lengths, tmp_path)


def test_padding_mask_matches_hash_padding():
    raw = np.array([["x", "", "0", "y"]], dtype=object)
    mask = PaddingMask()(tf.constant(raw))
    ids = Hash(16, mask_zero=True)(tf.constant(raw))
    np.testing.assert_array_equal(np.asarray(mask), ids.numpy() != 0)
    np.testing.assert_array_equal(np.asarray(PaddingMask()(np.array([[3, 0, 1]]))), [[True, False, True]])


def test_no_mask_drops_the_mask_without_recording_it():
    ids = keras.Input((3,), dtype="int32")
    embedded = keras.layers.Embedding(5, 2, mask_zero=True)(ids)
    model = keras.Model(ids, keras.layers.Flatten()(NoMask()(embedded)))
    # the mask is not an input of NoMask: no anonymous operation in the model
    assert all(isinstance(op, keras.layers.Layer) for op in model.operations)
    assert model.predict(np.array([[1, 0, 2]]), verbose=0).shape == (1, 6)


def test_deepctrs_tensor_helpers_inside_a_layer():
    class Pool(keras.layers.Layer):  # a DeepCTR-style custom layer
        def call(self, keys, scores):
            weights = softmax(scores, dim=1)
            return reduce_sum(keys * weights, axis=1, keep_dims=True), reduce_mean(keys, 1), reduce_max(keys, 1)

    keys = np.arange(12, dtype="float32").reshape(2, 3, 2)
    scores = np.array([[[0.0], [1.0], [2.0]], [[1.0], [1.0], [1.0]]], "float32")
    pooled, mean, largest = (np.asarray(t) for t in Pool()(keys, scores))
    weights = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(pooled, (keys * weights).sum(axis=1, keepdims=True), rtol=1e-6)
    np.testing.assert_allclose(mean, keys.mean(axis=1))
    np.testing.assert_array_equal(largest, keys.max(axis=1))
    np.testing.assert_allclose(np.asarray(div(keys, 2.0)), keys / 2)
    assert float(reduce_sum(keys)) == keys.sum()
