"""DIN's attentional pooling of a behaviour sequence against a candidate item."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from ctrkit.layers.activation import serialize_activation
from ctrkit.layers.checks import check_bool, check_int_list
from ctrkit.layers.sequence.local_activation_unit import LocalActivationUnit


@keras.saving.register_keras_serializable(package="ctrkit")
class AttentionSequencePoolingLayer(keras.layers.Layer):
    """Attentional sequence pooling used in DIN.

    A :class:`~ctrkit.layers.sequence.LocalActivationUnit` scores every key (a
    past behaviour) against the query (the candidate item). Scores of padded
    keys are set to 0 (or excluded from the softmax when
    `weight_normalization=True`), and the output is the score-weighted sum of
    the keys.

    Input shape:
        * `supports_masking=False`: a list `[query, keys, keys_length]`:
          `query` `(batch_size, 1, embedding_size)`, `keys`
          `(batch_size, T, embedding_size)`, `keys_length` `(batch_size, 1)`
          integers.
        * `supports_masking=True`: a list `[query, keys]` where `keys` carries
          a Keras mask of shape `(batch_size, T)`.

    Output shape:
        `(batch_size, 1, embedding_size)`, or the scores `(batch_size, 1, T)`
        when `return_score=True`.

    Args:
        att_hidden_units: list of positive integers, the layers of the
            attention network.
        att_activation: activation of the attention network (a name such as
            `'sigmoid'`, `'dice'`, or a layer class).
        weight_normalization: whether to softmax-normalise the scores over the
            valid keys. DIN keeps the raw scores (False).
        return_score: return the (masked, possibly normalised) scores instead
            of the pooled keys.
        supports_masking: if True, read the valid keys from the mask of `keys`
            instead of a length input.
        support_masking: the same, as DeepCTR's manual spells it; when given,
            it decides.

    Example:
        >>> import numpy as np
        >>> query = np.ones((2, 1, 4), "float32")
        >>> keys = np.ones((2, 5, 4), "float32")
        >>> length = np.array([[3], [5]], "int32")
        >>> tuple(AttentionSequencePoolingLayer()([query, keys, length]).shape)
        (2, 1, 4)

    Reference:
        Zhou G, Zhu X, Song C, et al. Deep interest network for click-through
        rate prediction. KDD 2018. https://arxiv.org/pdf/1706.06978.pdf
    """

    def __init__(
        self,
        att_hidden_units: Sequence[int] = (80, 40),
        att_activation: str | type = "sigmoid",
        weight_normalization: bool = False,
        return_score: bool = False,
        supports_masking: bool = False,
        *,
        support_masking: bool | None = None,
        **kwargs: Any,
    ) -> None:
        if support_masking is not None:
            supports_masking = support_masking
        super().__init__(**kwargs)
        self.att_hidden_units = tuple(check_int_list("att_hidden_units", att_hidden_units))
        self.att_activation = att_activation
        self.weight_normalization = check_bool("weight_normalization", weight_normalization)
        self.return_score = check_bool("return_score", return_score)
        self.use_input_mask = check_bool("supports_masking", supports_masking)
        # A mask is accepted in either mode, never warned about; compute_mask
        # decides what is passed on.
        self.supports_masking = True
        self.local_att = LocalActivationUnit(
            self.att_hidden_units,
            att_activation,
            l2_reg=0,
            dropout_rate=0,
            use_bn=False,
            seed=1024,
            name="local_activation_unit",
        )

    def _split_shapes(self, input_shape: Any) -> tuple[tuple, tuple]:
        expected = 2 if self.use_input_mask else 3
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != expected or not all(
            isinstance(s, (list, tuple)) for s in input_shape
        ):
            names = "[query, keys]" if self.use_input_mask else "[query, keys, keys_length]"
            raise ValueError(f"AttentionSequencePoolingLayer expects a list {names}")
        query_shape, keys_shape = tuple(input_shape[0]), tuple(input_shape[1])
        if len(query_shape) != 3 or len(keys_shape) != 3:
            raise ValueError(
                "query and keys must be 3D (batch_size, 1, embedding_size) and "
                f"(batch_size, T, embedding_size), got {query_shape} and {keys_shape}"
            )
        if query_shape[1] != 1 or query_shape[-1] != keys_shape[-1]:
            raise ValueError(
                "query must have shape (batch_size, 1, embedding_size) with the embedding size "
                f"of keys, got query {query_shape} and keys {keys_shape}"
            )
        if not self.use_input_mask and tuple(input_shape[2])[1:] not in ((1,), ()):
            raise ValueError(f"keys_length must have shape (batch_size, 1), got {input_shape[2]}")
        return query_shape, keys_shape

    def build(self, input_shape: Any) -> None:
        query_shape, keys_shape = self._split_shapes(input_shape)
        self.local_att.build([query_shape, keys_shape])

    def call(self, inputs: Any, mask: Any = None, training: Any = None) -> Any:
        if self.use_input_mask:
            query, keys = inputs
            keys_mask = mask[1] if isinstance(mask, (list, tuple)) else None
            if keys_mask is None:
                raise ValueError(
                    "AttentionSequencePoolingLayer(supports_masking=True) needs keys to carry "
                    "a Keras mask, e.g. from Embedding(mask_zero=True)"
                )
            valid = ops.cast(keys_mask, "bool")
        else:
            query, keys, keys_length = inputs
            positions = ops.arange(ops.shape(keys)[1], dtype="int32")
            valid = positions[None, :] < ops.reshape(ops.cast(keys_length, "int32"), (-1, 1))
        valid = ops.expand_dims(valid, axis=1)  # (B, 1, T)

        scores = self.local_att([query, keys], training=training)  # (B, T, 1)
        scores = ops.transpose(scores, (0, 2, 1))  # (B, 1, T)
        if self.weight_normalization:
            lowest = np.finfo(keras.backend.standardize_dtype(scores.dtype)).min
            scores = ops.softmax(ops.where(valid, scores, lowest), axis=-1)
        # Also zeroes the uniform softmax an empty sequence would otherwise get.
        scores = ops.where(valid, scores, ops.zeros_like(scores))
        if self.return_score:
            return scores
        return ops.matmul(scores, keys)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        query_shape, keys_shape = self._split_shapes(input_shape)
        if self.return_score:
            return (keys_shape[0], 1, keys_shape[1])
        return (query_shape[0], 1, query_shape[-1])

    def compute_mask(self, inputs: Any, mask: Any = None) -> None:
        return None

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "att_hidden_units": list(self.att_hidden_units),
                "att_activation": serialize_activation(self.att_activation),
                "weight_normalization": self.weight_normalization,
                "return_score": self.return_score,
                "supports_masking": self.use_input_mask,
            }
        )
        return config
