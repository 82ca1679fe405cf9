"""DeepCTR's HDF5 saving habits on Keras 3.

DeepCTR's manual saves weights as `model.save_weights("DeepFM_w.h5")` and
whole models as `save_model(model, "DeepFM.h5")`, reloaded by
`load_model("DeepFM.h5", custom_objects)`. Keras 3 keeps that HDF5 format
as "legacy" and its loader looks classes up by their plain names, where
Keras's own registry holds them as `package>Name`:

* `register_plain_name` also files a model class under its plain name, so
  the loader finds it with or without `custom_objects`;
* `HDF5Saving` lets `save_weights` write a file whose name ends in `.h5`
  (or `.hdf5`) other than `.weights.h5`, which Keras 3 refuses: it is written
  in Keras's HDF5 format (the architecture and the weights, no optimizer),
  which `load_weights` reads back by Keras's own legacy path. It also keeps
  the optimizer in the compile configuration: Keras 3.15's HDF5 writer
  removes it from the live model, so that a `.keras` file saved after an
  HDF5 one would come back with a default RMSprop (fixed in later Keras);
  it compiles loss aliases (`"mse"`, `"mae"`, ...) under the loss
  function's own name, which Keras 3.15 can read back from an HDF5 file
  (it cannot read the aliases there); and it builds the optimizer when the
  model is compiled, so that a model reloaded from HDF5 trains on, with its
  optimizer state.

Example:
    >>> import tempfile, os, numpy as np
    >>> from ctrkit.feature_column import SparseFeat
    >>> from ctrkit.models import DeepFM
    >>> columns = [SparseFeat("user", 10), SparseFeat("item", 10)]
    >>> model = DeepFM(columns, columns, dnn_hidden_units=(4,))
    >>> path = os.path.join(tempfile.mkdtemp(), "DeepFM_w.h5")
    >>> model.save_weights(path)
    >>> model.load_weights(path)
"""

from __future__ import annotations

import os

import keras

HDF5_SUFFIXES = (".h5", ".hdf5")


def register_plain_name(cls: type) -> type:
    """File `cls` in Keras's global custom objects under its plain class name
    too (it keeps its `package>Name` registration for `.keras` files)."""
    keras.saving.get_custom_objects()[cls.__name__] = cls
    return cls


def _loss_by_name(loss):
    """A loss alias as the name of its function (`"mse"` -> `"mean_squared_error"`)."""
    if isinstance(loss, str):
        function = keras.losses.get(loss)
        if callable(function) and getattr(function, "__name__", loss) != loss:
            return function.__name__
    return loss


class HDF5Saving:
    """`save_weights` to any `.h5`/`.hdf5` name, as DeepCTR code does, and a
    compile configuration that HDF5 files keep and give back whole (mixed
    into a `keras.Model`)."""

    def compile(self, optimizer="rmsprop", loss=None, *args, **kwargs):
        result = super().compile(optimizer, keras.tree.map_structure(_loss_by_name, loss), *args, **kwargs)
        # Build the optimizer for every trainable variable now, as Keras does
        # when it reloads a `.keras` file. Keras 3.15's HDF5 loader compiles,
        # then builds the optimizer with the model's own variables only (none,
        # for a functional model): left to it, the reloaded model could not
        # train and the saved optimizer state would not be restored.
        if self.built and self.optimizer is not None and not self.optimizer.built:
            self.optimizer.build(self.trainable_variables)
        return result

    def save_weights(self, filepath, overwrite=True, **kwargs):
        path = os.fspath(filepath)
        if path.endswith(HDF5_SUFFIXES) and not path.endswith(".weights.h5") and not kwargs:
            keras.saving.save_model(self, path, overwrite=overwrite, include_optimizer=False)
            return
        return super().save_weights(filepath, overwrite=overwrite, **kwargs)

    def get_compile_config(self):
        config = super().get_compile_config()
        if config is not None and "optimizer" not in config and getattr(self, "optimizer", None) is not None:
            config["optimizer"] = keras.saving.serialize_keras_object(self.optimizer)
        return config
