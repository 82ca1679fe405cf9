"""The Keras model class every ctrkit model is built as.

It is a functional Keras model that also accepts what DeepCTR users pass:
string features as NumPy object or unicode arrays (e.g. `df[col].values`) or
pandas Series. Keras' own data adapters refuse those, so they are turned into
string tensors before `fit`, `evaluate` and `predict` see them.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np


def _to_string_tensor(value: Any):
    import tensorflow as tf

    if isinstance(value, tf.Tensor):
        return value
    return tf.constant(np.asarray(value).astype(str).astype(object))


@keras.saving.register_keras_serializable(package="ctrkit")
class CTRModel(keras.Model):
    """A functional Keras model that takes string features as NumPy arrays."""

    def _string_inputs(self) -> dict[str, int]:
        return {t.name: i for i, t in enumerate(self.inputs) if t.dtype == "string"}

    def _adapt(self, x):
        strings = self._string_inputs()
        if not strings or x is None:
            return x
        if isinstance(x, dict):
            return {k: _to_string_tensor(v) if k in strings else v for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            positions = set(strings.values())
            return [_to_string_tensor(v) if i in positions else v for i, v in enumerate(x)]
        return x

    def fit(self, x=None, y=None, *args, validation_data=None, **kwargs):
        if isinstance(validation_data, tuple) and validation_data:
            validation_data = (self._adapt(validation_data[0]), *validation_data[1:])
        return super().fit(self._adapt(x), y, *args, validation_data=validation_data, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        return super().evaluate(self._adapt(x), y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        return super().predict(self._adapt(x), *args, **kwargs)

    def train_on_batch(self, x, y=None, *args, **kwargs):
        return super().train_on_batch(self._adapt(x), y, *args, **kwargs)

    def test_on_batch(self, x, y=None, *args, **kwargs):
        return super().test_on_batch(self._adapt(x), y, *args, **kwargs)

    def predict_on_batch(self, x):
        return super().predict_on_batch(self._adapt(x))
