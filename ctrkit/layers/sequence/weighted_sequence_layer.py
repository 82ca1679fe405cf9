"""Weighting of variable-length sequence embeddings by per-position scores."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from ctrkit.layers.checks import check_bool


@keras.saving.register_keras_serializable(package="ctrkit")
class WeightedSequenceLayer(keras.layers.Layer):
    """Multiplies each position of a sequence embedding by its weight.

    Used for weighted multi-value features (`VarLenSparseFeat` with a
    `weight_name`). Padded positions always get weight 0. With
    `weight_normalization=True` the weights of the valid positions are first
    turned into a softmax over those positions (an empty sequence gets all-zero
    weights).

    Input shape:
        * `supports_masking=False`: a list `[seq_value, seq_len, seq_weight]`:
          `seq_value` `(batch_size, T, embedding_size)`, `seq_len`
          `(batch_size, 1)` integers, `seq_weight` `(batch_size, T, 1)` or
          `(batch_size, T)`.
        * `supports_masking=True`: a list `[seq_value, seq_weight]` where
          `seq_value` carries a Keras mask of shape `(batch_size, T)`.

    Output shape:
        `(batch_size, T, embedding_size)`. With `supports_masking=True` the
        input mask of `seq_value` is passed on.

    Args:
        weight_normalization: whether to softmax-normalise the weights over the
            valid positions before applying them.
        supports_masking: if True, read the valid positions from the mask of
            `seq_value` instead of a length input.

    Example:
        >>> import numpy as np
        >>> values = np.ones((2, 3, 4), "float32")
        >>> lengths = np.array([[1], [3]], "int32")
        >>> weights = np.full((2, 3, 1), 0.5, "float32")
        >>> layer = WeightedSequenceLayer(weight_normalization=False)
        >>> tuple(layer([values, lengths, weights]).shape)
        (2, 3, 4)

    Reference:
        Shen W. DeepCTR: Easy-to-use, Modular and Extendible package of deep-learning
        based CTR models. https://github.com/shenweichen/deepctr (weighted
        `VarLenSparseFeat`).
    """

    def __init__(
        self, weight_normalization: bool = True, supports_masking: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.weight_normalization = check_bool("weight_normalization", weight_normalization)
        self.use_input_mask = check_bool("supports_masking", supports_masking)
        # A mask is accepted in either mode, never warned about; compute_mask
        # decides what is passed on.
        self.supports_masking = True

    def call(self, inputs: Any, mask: Any = None) -> Any:
        if self.use_input_mask:
            if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
                raise ValueError(
                    "WeightedSequenceLayer(supports_masking=True) expects a list "
                    "[seq_value, seq_weight]"
                )
            values, weight = inputs
            value_mask = mask[0] if isinstance(mask, (list, tuple)) else None
            if value_mask is None:
                raise ValueError(
                    "WeightedSequenceLayer(supports_masking=True) needs seq_value to carry a "
                    "Keras mask, e.g. from Embedding(mask_zero=True)"
                )
            valid = ops.cast(value_mask, "bool")
        else:
            if not isinstance(inputs, (list, tuple)) or len(inputs) != 3:
                raise ValueError(
                    "WeightedSequenceLayer(supports_masking=False) expects a list "
                    "[seq_value, seq_len, seq_weight]"
                )
            values, seq_len, weight = inputs
            positions = ops.arange(ops.shape(values)[1], dtype="int32")
            valid = positions[None, :] < ops.reshape(ops.cast(seq_len, "int32"), (-1, 1))

        valid = ops.expand_dims(valid, axis=-1)  # (B, T, 1)
        weight = ops.cast(weight, values.dtype)
        if len(weight.shape) == 2:
            weight = ops.expand_dims(weight, axis=-1)
        if self.weight_normalization:
            lowest = np.finfo(keras.backend.standardize_dtype(values.dtype)).min
            weight = ops.softmax(ops.where(valid, weight, lowest), axis=1)
        # Also zeroes the uniform softmax an empty sequence would otherwise get.
        weight = ops.where(valid, weight, ops.zeros_like(weight))
        return values * weight

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return tuple(input_shape[0])

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if self.use_input_mask and isinstance(mask, (list, tuple)):
            return mask[0]
        return None

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "weight_normalization": self.weight_normalization,
                "supports_masking": self.use_input_mask,
            }
        )
        return config
