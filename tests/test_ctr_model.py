"""DeepCTR calling conventions that Keras 3 refuses on its own models."""

import keras
import numpy as np
import pandas as pd
from roundtrip import criteo_like_columns, criteo_like_rows

from ctrkit.models import MMOE, DeepFM


def test_string_features_as_object_arrays_pandas_series_and_1d_labels():
    columns = criteo_like_columns()
    x, y = criteo_like_rows(600)
    frame = pd.DataFrame(x)
    model = DeepFM(columns, columns, dnn_hidden_units=(8,))
    model.compile("adam", "binary_crossentropy", metrics=["binary_crossentropy"])
    # DeepCTR's examples pass pandas Series (string ones included) and 1-D labels
    history = model.fit({k: frame[k] for k in frame}, y, batch_size=128, epochs=1, verbose=0, validation_split=0.2)
    assert {"loss", "binary_crossentropy", "val_loss"} <= set(history.history)
    from_series = model.predict({k: frame[k] for k in frame}, verbose=0)
    from_arrays = model.predict(x, verbose=0)
    unicode = dict(x, C1=x["C1"].astype(str))
    np.testing.assert_allclose(model.predict(unicode, verbose=0), from_arrays)
    np.testing.assert_allclose(from_series, from_arrays)
    loss, bce = model.evaluate(x, y, verbose=0)
    assert np.isclose(loss, bce, rtol=0.05)
    model.train_on_batch(x, y)


def test_flat_metric_list_applies_to_every_output_of_a_multitask_model():
    columns = criteo_like_columns()
    x, y = criteo_like_rows(400)
    model = MMOE(columns, task_types=["binary", "binary"], task_names=["click", "buy"])
    model.compile("adam", ["binary_crossentropy"] * 2, metrics=["binary_crossentropy"])
    history = model.fit(x, [y, 1 - y], batch_size=128, epochs=1, verbose=0, validation_data=(x, [y, 1 - y]))
    assert {"click_binary_crossentropy", "buy_binary_crossentropy", "val_buy_loss"} <= set(history.history)


def test_reloaded_model_keeps_the_conventions(tmp_path):
    columns = criteo_like_columns()
    x, y = criteo_like_rows(300)
    model = DeepFM(columns, columns, dnn_hidden_units=(8,))
    model.compile("adam", "binary_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    reloaded = keras.models.load_model(tmp_path / "m.keras")
    assert type(reloaded).__name__ == "CTRModel"
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
