"""`EmbeddingTable`: an embedding whose L2 penalty covers the rows a batch looks up."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from ctrkit.layers.checks import check_number


@keras.saving.register_keras_serializable(package="ctrkit")
class EmbeddingTable(keras.layers.Embedding):
    """`keras.layers.Embedding` with an L2 penalty on the looked-up vectors.

    DeepCTR passes `embeddings_regularizer=l2(l2_reg)`: the penalty
    `l2_reg * ||W||^2` covers the whole table, so its gradient touches every
    row at every step and the optimizer must update every row of every
    table, hundreds of thousands of rows for a batch that looks up a few
    thousand. Here the penalty is `l2_reg` times the sum of the squared
    vectors the batch looks up (a row looked up twice counts twice): rows a
    batch does not use get no gradient, the table's gradient stays a
    `tf.IndexedSlices` of the touched rows, and `ctrkit.sparse_updates`
    updates only those rows. The penalty counts in training only (it is
    part of the loss `fit` reports, not of `evaluate`'s).

    Ids are not checked: as with `tf.nn.embedding_lookup`, an id outside
    `[0, input_dim)` is an error on CPU.

    Input shape: integer ids of any shape. Output shape: the input's shape
    plus `(output_dim,)`.

    Args:
        input_dim: number of rows (ids `0 .. input_dim - 1`).
        output_dim: size of each vector.
        l2_reg: float >= 0, strength of the penalty on the looked-up vectors.
        **kwargs: the other arguments of `keras.layers.Embedding`
            (`embeddings_initializer`, `mask_zero`, `name`, `trainable`, ...).

    Example:
        >>> import numpy as np
        >>> table = EmbeddingTable(10, 4, l2_reg=0.1)
        >>> tuple(table(np.array([[1], [2]]), training=True).shape)
        (2, 1, 4)
        >>> len(table.losses)
        1
    """

    def __init__(self, input_dim: int, output_dim: int, l2_reg: float = 0.0, **kwargs: Any) -> None:
        l2_reg = check_number("l2_reg", l2_reg, low=0)
        super().__init__(input_dim, output_dim, **kwargs)
        self.l2_reg = l2_reg

    def call(self, inputs, training=None):
        import tensorflow as tf

        if inputs.dtype not in ("int32", "int64"):
            inputs = ops.cast(inputs, "int32")
        # A gather on the variable itself: the gradient is the looked-up rows
        # (`tf.IndexedSlices`), and the lookup reads only those rows.
        table = self.embeddings.value if isinstance(self.embeddings, keras.Variable) else self.embeddings
        outputs = tf.gather(table, inputs)
        if training and self.l2_reg > 0 and self.trainable:
            self.add_loss(self.l2_reg * ops.sum(ops.square(outputs)))
        return outputs

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["l2_reg"] = self.l2_reg
        return config
