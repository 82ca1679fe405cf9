"""Sum, mean or max pooling of variable-length sequences."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from ctrkit.layers.checks import check_bool, check_choice

_MODES = ("sum", "mean", "max")


@keras.saving.register_keras_serializable(package="ctrkit")
class SequencePoolingLayer(keras.layers.Layer):
    """Pools a variable-length sequence (or multi-value feature) into one vector.

    Only the valid positions of each sequence take part: `sum` adds them,
    `mean` divides that sum by the true length, `max` takes the element-wise
    maximum over them. An empty sequence (length 0) pools to zeros in every
    mode.

    Input shape:
        * `supports_masking=False`: a list `[seq_value, seq_len]`, `seq_value`
          of shape `(batch_size, T, embedding_size)` and `seq_len` of shape
          `(batch_size, 1)` (integers, the number of valid leading positions).
        * `supports_masking=True`: `seq_value` alone, carrying a Keras mask of
          shape `(batch_size, T)` (for example from
          `Embedding(mask_zero=True)`).

    Output shape:
        `(batch_size, 1, embedding_size)`.

    Args:
        mode: pooling operation, one of `'sum'`, `'mean'` or `'max'`.
        supports_masking: if True, read the valid positions from the input
            mask instead of a length input.

    Example:
        >>> import numpy as np
        >>> values = np.ones((2, 4, 3), "float32")
        >>> lengths = np.array([[2], [4]], "int32")
        >>> tuple(SequencePoolingLayer("sum")([values, lengths]).shape)
        (2, 1, 3)

    Reference:
        Covington P, Adams J, Sargin E. Deep Neural Networks for YouTube
        Recommendations. RecSys 2016 (averaged watch/search history embeddings).
    """

    def __init__(self, mode: str = "mean", supports_masking: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mode = check_choice("mode", mode, _MODES)
        self.use_input_mask = check_bool("supports_masking", supports_masking)
        # A mask is accepted in either mode, never warned about; compute_mask
        # decides what is passed on.
        self.supports_masking = True

    def call(self, inputs: Any, mask: Any = None) -> Any:
        if self.use_input_mask:
            if isinstance(inputs, (list, tuple)):
                inputs = inputs[0]
                mask = mask[0] if isinstance(mask, (list, tuple)) else mask
            if mask is None:
                raise ValueError(
                    "SequencePoolingLayer(supports_masking=True) needs an input that carries a "
                    "Keras mask, e.g. from Embedding(mask_zero=True)"
                )
            values = inputs
            valid = ops.cast(mask, "bool")
        else:
            if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
                raise ValueError(
                    "SequencePoolingLayer(supports_masking=False) expects a list "
                    "[seq_value, seq_len]"
                )
            values, seq_len = inputs
            positions = ops.arange(ops.shape(values)[1], dtype="int32")
            valid = positions[None, :] < ops.reshape(ops.cast(seq_len, "int32"), (-1, 1))

        valid = ops.expand_dims(valid, axis=-1)  # (B, T, 1)
        if self.mode == "max":
            lowest = np.finfo(keras.backend.standardize_dtype(values.dtype)).min
            pooled = ops.max(ops.where(valid, values, lowest), axis=1, keepdims=True)
            non_empty = ops.any(valid, axis=1, keepdims=True)
            return ops.where(non_empty, pooled, ops.zeros_like(pooled))

        weights = ops.cast(valid, values.dtype)
        pooled = ops.sum(values * weights, axis=1, keepdims=True)
        if self.mode == "mean":
            length = ops.sum(weights, axis=1, keepdims=True)
            pooled = pooled / ops.maximum(length, 1.0)
        return pooled

    def compute_output_shape(self, input_shape: Any) -> tuple:
        value_shape = input_shape[0] if isinstance(input_shape[0], (list, tuple)) else input_shape
        return (value_shape[0], 1, value_shape[-1])

    def compute_mask(self, inputs: Any, mask: Any = None) -> None:
        return None

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"mode": self.mode, "supports_masking": self.use_input_mask})
        return config
