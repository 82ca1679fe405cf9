"""The DeepCTR manual's FAQ (section 2.4), answered with ctrkit and Keras 3."""

import itertools

import keras
import numpy as np
import tensorflow as tf

from ctrkit.feature_column import DenseFeat, SparseFeat, get_feature_names
from ctrkit.layers import AFMLayer, custom_objects
from ctrkit.models import AFM, DeepFM


def _toy():
    feature_columns = [SparseFeat("user_id", 120), SparseFeat("item_id", 60), SparseFeat("cate_id", 60)]
    rng = np.random.default_rng(0)
    x = {
        "user_id": rng.integers(0, 120, 256),
        "item_id": rng.integers(0, 60, 256),
        "cate_id": rng.integers(0, 60, 256),
    }
    y = (x["item_id"] % 2).astype("float32")
    return feature_columns, x, y


def test_save_and_load_weights_and_models(tmp_path):
    columns, x, y = _toy()
    model = DeepFM(columns, columns, dnn_hidden_units=(8,))
    model.compile("adam", "binary_crossentropy")
    model.fit(x, y, verbose=0)
    expected = model.predict(x, verbose=0)

    model.save_weights(tmp_path / "DeepFM.weights.h5")
    fresh = DeepFM(columns, columns, dnn_hidden_units=(8,))
    fresh.load_weights(tmp_path / "DeepFM.weights.h5")
    np.testing.assert_allclose(fresh.predict(x, verbose=0), expected, atol=1e-6)

    keras.saving.save_model(model, tmp_path / "DeepFM.keras")
    # custom_objects is accepted as in DeepCTR, and not needed
    for kwargs in ({"custom_objects": custom_objects}, {}):
        loaded = keras.models.load_model(tmp_path / "DeepFM.keras", **kwargs)
        np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, atol=1e-6)
        assert loaded.optimizer.iterations.numpy() == model.optimizer.iterations.numpy()  # compile state restored
        loaded.fit(x, y, verbose=0)  # and training goes on


def test_learning_rate_and_early_stopping():
    columns, x, _ = _toy()
    y = np.random.default_rng(2).integers(0, 2, 256).astype("float32")  # nothing to learn: overfits at once
    model = DeepFM(columns, columns, dnn_hidden_units=(8,))
    model.compile(keras.optimizers.Adagrad(0.1024), "binary_crossentropy", metrics=["binary_crossentropy"])
    assert np.isclose(float(model.optimizer.learning_rate), 0.1024)
    es = keras.callbacks.EarlyStopping(monitor="val_binary_crossentropy", patience=0)
    history = model.fit(x, y, batch_size=32, epochs=50, verbose=0, validation_split=0.2, callbacks=[es])
    assert len(history.history["loss"]) < 50  # stopped early


def test_afm_attentional_weights_of_each_feature_interaction():
    columns, x, y = _toy()
    model = AFM(columns, columns)
    model.compile("adam", "binary_crossentropy")
    model.fit(x, y, verbose=0)
    afm = next(layer for layer in model.layers if isinstance(layer, AFMLayer))
    weights_model = keras.Model(model.input, afm.attention_scores(afm.input))
    attentional_weights = weights_model.predict(x, batch_size=4096, verbose=0)
    feature_interactions = list(itertools.combinations(get_feature_names(columns), 2))
    assert attentional_weights.shape == (256, len(feature_interactions), 1)
    np.testing.assert_allclose(attentional_weights.sum(axis=1), 1.0, rtol=1e-5)  # softmax over pairs


def test_extract_the_embedding_vectors_of_deepfm():
    columns, x, y = _toy()
    model = DeepFM(columns, columns, dnn_hidden_units=(8,))
    embedding_dict = {fc.embedding_name: model.get_layer("sparse_emb_" + fc.embedding_name).get_weights()[0] for fc in columns}
    assert embedding_dict["user_id"].shape == (120, 4)
    assert embedding_dict["item_id"].shape == (60, 4)


def test_long_dense_feature_vector_as_input():
    feature_columns = [SparseFeat("user_id", 120), SparseFeat("item_id", 60), DenseFeat("pic_vec", 5)]
    model_input = {
        "user_id": np.array([[1], [0], [1]]),
        "item_id": np.array([[30], [20], [10]]),
        "pic_vec": np.array([[0.1, 0.5, 0.4, 0.3, 0.2]] * 3),
    }
    model = DeepFM(feature_columns, feature_columns)
    model.compile("adagrad", "binary_crossentropy")
    model.fit(model_input, np.array([1, 0, 1]), verbose=0)
    assert model.get_layer("pic_vec").output.shape == (None, 5)
    assert model.predict(model_input, verbose=0).shape == (3, 1)


def test_pretrained_and_frozen_embedding_weights():
    pretrained_item_weights = np.random.default_rng(1).standard_normal((60, 4)).astype("float32")
    feature_columns = [
        SparseFeat("user_id", 120),
        SparseFeat(
            "item_id",
            60,
            embedding_dim=4,
            embeddings_initializer=keras.initializers.Constant(pretrained_item_weights),
            trainable=False,
        ),
    ]
    model = DeepFM(feature_columns, feature_columns)
    model.compile("adagrad", "binary_crossentropy")
    model.fit({"user_id": np.array([[1], [0], [1]]), "item_id": np.array([[30], [20], [10]])}, np.array([1, 0, 1]), verbose=0)
    item_table = model.get_layer("sparse_emb_item_id").get_weights()[0]
    np.testing.assert_array_equal(item_table, pretrained_item_weights)  # initialised, then frozen
    assert not model.get_layer("sparse_emb_item_id").trainable


def test_mirrored_strategy_data_parallel_training():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    columns, x, y = _toy()
    with strategy.scope():
        model = DeepFM(columns, columns, dnn_hidden_units=(8,))
        model.compile("adam", "binary_crossentropy")
    history = model.fit(x, y, batch_size=64, epochs=2, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
