"""The Keras model class every ctrkit model is built as.

It is a functional Keras model that also accepts what DeepCTR code passes
and Keras 3 refuses:

* string features as NumPy object or unicode arrays (e.g. `df[col].values`)
  or pandas Series: turned into string tensors; other pandas columns become
  NumPy arrays;
* 1-D label arrays for `(batch, 1)` outputs: given their trailing axis, so
  metrics such as `"binary_crossentropy"` see matching ranks;
* one flat metrics list for a multi-output model: applied to every output;
* `save_weights("x.h5")`, and whole-model HDF5 files that `load_model`
  reloads with or without `custom_objects` (see `ctrkit.models.saving`).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from .saving import HDF5Saving, register_plain_name


def _to_string_tensor(value: Any):
    import tensorflow as tf

    if isinstance(value, tf.Tensor):
        return value
    return tf.constant(np.asarray(value).astype(str).astype(object))


@register_plain_name
@keras.saving.register_keras_serializable(package="ctrkit")
class CTRModel(HDF5Saving, keras.Model):
    """A functional Keras model that takes string features as NumPy arrays,
    and saves to and reloads from DeepCTR's HDF5 files (`ctrkit.models.saving`)."""

    def _string_inputs(self) -> dict[str, int]:
        return {t.name: i for i, t in enumerate(self.inputs) if t.dtype == "string"}

    def _adapt(self, x):
        """String inputs to string tensors, pandas columns to NumPy arrays."""
        if x is None:
            return x
        strings = self._string_inputs()

        def adapt(key, value):
            if key in strings:
                return _to_string_tensor(value)
            return value.to_numpy() if hasattr(value, "to_numpy") else value

        if isinstance(x, dict):
            return {k: adapt(k, v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            names = [t.name for t in self.inputs]
            return [adapt(names[i] if i < len(names) else None, v) for i, v in enumerate(x)]
        return x

    def _adapt_labels(self, y):
        if isinstance(y, (list, tuple)) and len(self.outputs) > 1:
            return [self._adapt_labels_one(v) for v in y]
        return self._adapt_labels_one(y)

    @staticmethod
    def _adapt_labels_one(y):
        if isinstance(y, np.ndarray) or hasattr(y, "to_numpy"):
            y = np.asarray(y)
            if y.ndim == 1:
                return y[:, None]
        return y

    def compile(self, optimizer="rmsprop", loss=None, *args, metrics=None, **kwargs):
        if (
            isinstance(metrics, (list, tuple))
            and len(self.outputs) > 1
            and metrics
            and not any(isinstance(m, (list, tuple, dict)) for m in metrics)
        ):
            metrics = [list(metrics) for _ in self.outputs]
        return super().compile(optimizer, loss, *args, metrics=metrics, **kwargs)

    def compile_from_config(self, config):
        # Keras skips restoring the compile state of models that override
        # compile(); ours only normalises its arguments, so restore it.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if getattr(self, "optimizer", None) is not None and self.built:
            self.optimizer.build(self.trainable_variables)

    def fit(self, x=None, y=None, *args, validation_data=None, **kwargs):
        if isinstance(validation_data, tuple) and validation_data:
            validation_data = (
                self._adapt(validation_data[0]),
                *(self._adapt_labels(v) for v in validation_data[1:2]),
                *validation_data[2:],
            )
        return super().fit(self._adapt(x), self._adapt_labels(y), *args, validation_data=validation_data, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        return super().evaluate(self._adapt(x), self._adapt_labels(y), *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        return super().predict(self._adapt(x), *args, **kwargs)

    def train_on_batch(self, x, y=None, *args, **kwargs):
        return super().train_on_batch(self._adapt(x), self._adapt_labels(y), *args, **kwargs)

    def test_on_batch(self, x, y=None, *args, **kwargs):
        return super().test_on_batch(self._adapt(x), self._adapt_labels(y), *args, **kwargs)

    def predict_on_batch(self, x):
        return super().predict_on_batch(self._adapt(x))
