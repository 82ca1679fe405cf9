"""Sinusoidal position encoding added to a sequence of embeddings."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from ctrkit.layers.checks import check_bool


def sinusoid_table(length: int, dim: int) -> np.ndarray:
    """The `(length, dim)` sine/cosine table of "Attention is all you need":
    even columns `sin(pos / 10000**(i / dim))`, odd columns the cosine, where
    `i` is the even column index of the pair."""
    pair = (np.arange(dim) // 2) * 2
    angles = np.arange(length)[:, None] / np.power(10000.0, pair[None, :] / dim)
    table = np.empty((length, dim))
    table[:, 0::2] = np.sin(angles[:, 0::2])
    table[:, 1::2] = np.cos(angles[:, 1::2])
    return table


@keras.saving.register_keras_serializable(package="ctrkit")
class PositionEncoding(keras.layers.Layer):
    """Adds a position encoding to every step of a sequence.

    The encoding table starts as the sinusoidal table of the Transformer and
    is a weight, trained further when `pos_embedding_trainable=True`. The
    output is `inputs + table[:T] * sqrt(embedding_size)` (without the factor
    when `scale=False`). The input mask is passed on.

    Input shape:
        `(batch_size, T, embedding_size)`; `T` and `embedding_size` must be
        known when the layer is built. Later calls may use shorter sequences.

    Output shape:
        Same as the input.

    Args:
        pos_embedding_trainable: whether the table is trained.
        zero_pad: whether position 0 starts as an all-zero encoding.
        scale: whether to multiply the encoding by `sqrt(embedding_size)`.

    Example:
        >>> import numpy as np
        >>> tuple(PositionEncoding()(np.zeros((2, 5, 4), "float32")).shape)
        (2, 5, 4)

    Reference:
        Vaswani A, Shazeer N, Parmar N, et al. Attention is all you need.
        NIPS 2017. https://arxiv.org/abs/1706.03762
    """

    def __init__(
        self,
        pos_embedding_trainable: bool = True,
        zero_pad: bool = False,
        scale: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pos_embedding_trainable = check_bool("pos_embedding_trainable", pos_embedding_trainable)
        self.zero_pad = check_bool("zero_pad", zero_pad)
        self.scale = check_bool("scale", scale)
        self.supports_masking = True

    def build(self, input_shape: tuple) -> None:
        if len(input_shape) != 3 or input_shape[1] is None or input_shape[2] is None:
            raise ValueError(
                "PositionEncoding expects a 3D input (batch_size, T, embedding_size) with known "
                f"T and embedding_size, got {tuple(input_shape)}"
            )
        length, dim = int(input_shape[1]), int(input_shape[2])
        table = sinusoid_table(length, dim)
        if self.zero_pad:
            table[0] = 0.0
        self.lookup_table = self.add_weight(
            name="lookup_table",
            shape=(length, dim),
            initializer=keras.initializers.Zeros(),
            trainable=self.pos_embedding_trainable,
        )
        self.lookup_table.assign(table.astype(self.lookup_table.dtype))

    def call(self, inputs: Any, mask: Any = None) -> Any:
        encoding = self.lookup_table[: ops.shape(inputs)[1]]
        if self.scale:
            encoding = encoding * float(np.sqrt(self.lookup_table.shape[-1]))
        return inputs + ops.cast(encoding, inputs.dtype)[None]

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return mask

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "pos_embedding_trainable": self.pos_embedding_trainable,
                "zero_pad": self.zero_pad,
                "scale": self.scale,
            }
        )
        return config
