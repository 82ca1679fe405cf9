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

It also trains and predicts faster than `keras.Model` does on its own:

* `fit` updates only the embedding rows a batch touched
  (`ctrkit.sparse_updates`) for SGD, Adagrad, Adam and FTRL;
* `predict` on in-memory inputs (a dict or list of NumPy arrays, pandas
  Series or tensors) converts each input once to the dtype of its model input
  (float64 from pandas to float32, ...) and feeds batches to one compiled
  forward pass, built on the first call and kept: no `tf.data` pipeline per
  call, and no new function when only the dtypes of the inputs differ.
  Other inputs (datasets, generators, `steps`, `callbacks`) go through
  `keras.Model.predict`.
"""

from __future__ import annotations

import weakref
from typing import Any

import keras
import numpy as np

from .saving import HDF5Saving, register_plain_name

# One compiled forward pass per model, outside the model's attributes so that
# SavedModel export does not save it with the model.
_PREDICT_FUNCTIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# Training steps per call of the compiled step when `compile` is not told.
DEFAULT_STEPS_PER_EXECUTION = 8


def _to_string_tensor(value: Any):
    import tensorflow as tf

    if isinstance(value, tf.Tensor):
        return value
    return tf.constant(np.asarray(value).astype(str).astype(object))


@register_plain_name
@keras.saving.register_keras_serializable(package="ctrkit")
class CTRModel(HDF5Saving, keras.Model):
    """A functional Keras model that takes string features as NumPy arrays,
    and saves to and reloads from DeepCTR's HDF5 files (`ctrkit.models.saving`).

    Attributes:
        sparse_updates: True (the default) to update only the embedding
            rows a batch touched, False for the optimizer's dense update of
            every row (set it before `compile`).
    """

    sparse_updates = True

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
        """`keras.Model.compile`, with defaults measured on CPU for CTR models:
        `steps_per_execution=8` (several steps per call of the compiled
        step, so callbacks and logs see every 8th batch) and
        `jit_compile=False` (XLA turns every embedding update dense)."""
        if len(args) <= 4:
            kwargs.setdefault("steps_per_execution", DEFAULT_STEPS_PER_EXECUTION)
        if len(args) <= 5 and kwargs.get("jit_compile", "auto") == "auto":
            kwargs["jit_compile"] = False
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
        y = self._adapt_labels(y)
        self._initialise_output_bias(y)
        return super().fit(self._adapt(x), y, *args, validation_data=validation_data, **kwargs)

    def _initialise_output_bias(self, y) -> None:
        """Before the first training step, set the bias of each binary output
        still at its initial 0 to the log-odds of its labels' mean, so that
        training starts from the base rate instead of 0.5."""
        if self.optimizer is None:
            return
        # `.value` first: under a distribution strategy the variable is a mirrored one
        if self.optimizer.built and int(keras.ops.convert_to_numpy(self.optimizer.iterations.value)) > 0:
            return
        labels = y if isinstance(y, (list, tuple)) else [y]
        if len(labels) != len(self.outputs):
            return
        for name, values in zip(self.output_names, labels):
            layer = self.get_layer(name)
            bias = getattr(layer, "global_bias", None)
            if getattr(layer, "task", None) != "binary" or bias is None or not isinstance(values, np.ndarray):
                continue
            rate = float(np.mean(values)) if values.size else 0.0
            if 0.0 < rate < 1.0 and not np.any(np.asarray(bias)):
                bias.assign(np.full(bias.shape, np.log(rate / (1.0 - rate)), dtype=bias.dtype))

    def evaluate(self, x=None, y=None, *args, **kwargs):
        return super().evaluate(self._adapt(x), self._adapt_labels(y), *args, **kwargs)

    def train_step(self, data):
        """One training step; embedding tables get sparse updates
        (`ctrkit.sparse_updates`) unless `sparse_updates` is False.

        Under a distribution strategy, or with `jit_compile=True` (XLA has no
        sparse updates), this is `keras.Model.train_step`."""
        import tensorflow as tf

        from ..sparse_updates import apply_gradients

        if tf.distribute.has_strategy() or self.jit_compile or not self.trainable_weights:
            return super().train_step(data)
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
            scaled = self.optimizer.scale_loss(loss)
        weights = self.trainable_weights
        apply_gradients(self.optimizer, tape.gradient(scaled, weights), weights, sparse=self.sparse_updates)
        rows = tf.shape(tf.nest.flatten(x)[0])[0]
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss, sample_weight=rows)
                break
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        import tensorflow as tf

        arrays = None
        if steps is None and not callbacks and not tf.distribute.has_strategy() and not self.run_eagerly:
            arrays = self._predict_arrays(x)
        if arrays is None:
            return super().predict(self._adapt(x), batch_size=batch_size, verbose=verbose, steps=steps, callbacks=callbacks)
        return self._predict_in_batches(arrays, int(batch_size or 32), verbose)

    def _predict_arrays(self, x) -> list | None:
        """`x` as one array or tensor per model input, each of the input's
        dtype and rank; None when `x` is something else (Keras takes it)."""
        import tensorflow as tf

        names = [t.name for t in self.inputs]
        if isinstance(x, dict):
            if not set(names) <= set(x):
                return None
            values = [x[name] for name in names]
        elif isinstance(x, (list, tuple)) and len(x) == len(names):
            values = list(x)
        elif len(names) == 1 and (isinstance(x, np.ndarray) or hasattr(x, "to_numpy") or tf.is_tensor(x)):
            values = [x]
        else:
            return None
        arrays, rows = [], set()
        for spec, value in zip(self.inputs, values):
            rank = len(spec.shape)
            if spec.dtype == "string":
                value = _to_string_tensor(value)
            elif tf.is_tensor(value):
                value = tf.cast(value, spec.dtype)
            elif isinstance(value, np.ndarray) or hasattr(value, "to_numpy"):
                value = np.asarray(value.to_numpy() if hasattr(value, "to_numpy") else value)
                if value.dtype.kind not in "biuf":
                    return None
                value = value.astype(spec.dtype, copy=False)
            else:
                return None
            shape = tuple(value.shape)
            if len(shape) == rank - 1 and spec.shape[-1] == 1:
                value = value[..., None] if isinstance(value, np.ndarray) else tf.expand_dims(value, -1)
                shape = shape + (1,)
            if len(shape) != rank or any(d is not None and d != s for d, s in zip(spec.shape[1:], shape[1:])):
                return None
            arrays.append(value)
            rows.add(shape[0])
        return arrays if len(rows) == 1 else None

    def _predict_function(self):
        import tensorflow as tf

        function = _PREDICT_FUNCTIONS.get(self)
        if function is None:
            signature = [[tf.TensorSpec((None, *t.shape[1:]), t.dtype, name=t.name) for t in self.inputs]]
            function = tf.function(lambda inputs: self(inputs, training=False), input_signature=signature, autograph=False)
            _PREDICT_FUNCTIONS[self] = function
        return function

    def _predict_in_batches(self, arrays: list, batch_size: int, verbose):
        import tensorflow as tf

        function = self._predict_function()
        rows = int(arrays[0].shape[0])
        starts = range(0, max(rows, 1), batch_size)
        progress = keras.utils.Progbar(len(starts)) if verbose not in (0, "0") else None
        outputs = []
        for step, start in enumerate(starts):
            batch = function([a[start : start + batch_size] for a in arrays])
            outputs.append(tf.nest.map_structure(lambda t: t.numpy(), batch))
            if progress is not None:
                progress.update(step + 1)
        return tf.nest.map_structure(lambda *parts: np.concatenate(parts), *outputs)

    def train_on_batch(self, x, y=None, *args, **kwargs):
        return super().train_on_batch(self._adapt(x), self._adapt_labels(y), *args, **kwargs)

    def test_on_batch(self, x, y=None, *args, **kwargs):
        return super().test_on_batch(self._adapt(x), self._adapt_labels(y), *args, **kwargs)

    def predict_on_batch(self, x):
        return super().predict_on_batch(self._adapt(x))
