import keras
import numpy as np
import pytest
import tensorflow as tf

from ctrkit.layers import custom_objects
from ctrkit.layers.embedding import EmbeddingTable
from ctrkit.layers.testing import assert_config_roundtrip, assert_saved_model_roundtrip


def test_looks_up_rows_of_the_table():
    table = EmbeddingTable(5, 3)
    ids = np.array([[0, 4], [2, 2]])
    out = keras.ops.convert_to_numpy(table(ids))
    weights = keras.ops.convert_to_numpy(table.embeddings)
    np.testing.assert_array_equal(out, weights[ids])


def test_penalty_covers_the_looked_up_rows_in_training_only():
    table = EmbeddingTable(4, 2, l2_reg=0.5, embeddings_initializer="ones")
    table(np.array([[1], [1], [3]]), training=True)
    assert float(table.losses[0]) == pytest.approx(0.5 * 3 * 2)  # three lookups of two ones, row 1 counted twice
    table(np.array([[1]]), training=False)
    assert len(table.losses) == 0


def test_gradient_touches_only_the_looked_up_rows():
    table = EmbeddingTable(100, 4, l2_reg=0.1)
    table.build((None, 1))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(table(np.array([[3], [7], [3]]), training=True)) + sum(table.losses)
    gradient = tape.gradient(loss, table.embeddings.value)
    assert isinstance(gradient, tf.IndexedSlices)
    assert sorted(set(gradient.indices.numpy().tolist())) == [3, 7]


@pytest.mark.parametrize("l2_reg", [-0.1, "0.1", True, None])
def test_rejects_a_bad_penalty(l2_reg):
    with pytest.raises(ValueError, match="`l2_reg` must be a number >= 0"):
        EmbeddingTable(4, 2, l2_reg=l2_reg)


def test_serialisation(tmp_path):
    assert_config_roundtrip(EmbeddingTable(10, 3, l2_reg=0.01, mask_zero=True, name="sparse_emb_item"))
    ids = np.array([[1, 2, 0], [3, 0, 0]], "int32")
    assert_saved_model_roundtrip(EmbeddingTable(10, 3, l2_reg=0.01), ids)

    # and in DeepCTR's HDF5 files, with DeepCTR's custom_objects and without
    inputs = keras.Input((3,), dtype="int32")
    model = keras.Model(inputs, EmbeddingTable(10, 3, l2_reg=0.01, mask_zero=True)(inputs))
    keras.saving.save_model(model, tmp_path / "table.h5")
    for args in ((custom_objects,), ()):
        reloaded = keras.models.load_model(tmp_path / "table.h5", *args)
        assert isinstance(reloaded.layers[-1], EmbeddingTable) and reloaded.layers[-1].mask_zero
        np.testing.assert_array_equal(reloaded.predict(ids, verbose=0), model.predict(ids, verbose=0))
