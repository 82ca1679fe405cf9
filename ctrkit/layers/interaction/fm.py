"""Factorization Machine pairwise interaction term."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="ctrkit")
class FM(keras.layers.Layer):
    """Factorization Machine: the sum of the inner products of every pair of
    field embeddings, without linear term and bias.

    With ``v_1 .. v_F`` the field embeddings it computes
    ``sum_{i<j} <v_i, v_j> = 0.5 * sum_k ((sum_i v_ik)^2 - sum_i v_ik^2)``,
    which costs ``O(F * E)`` instead of ``O(F^2 * E)``.

    Input shape:
        3D tensor ``(batch_size, field_size, embedding_size)``.

    Output shape:
        2D tensor ``(batch_size, 1)``.

    Example:
        >>> import numpy as np
        >>> tuple(FM()(np.ones((2, 3, 4), "float32")).shape)
        (2, 1)

    Reference:
        Rendle S. Factorization Machines. ICDM 2010.
        https://www.csie.ntu.edu.tw/~b97053/paper/Rendle2010FM.pdf
    """

    def build(self, input_shape: tuple) -> None:
        if len(input_shape) != 3:
            raise ValueError(
                "FM expects a 3D input (batch_size, field_size, embedding_size), "
                f"got shape {tuple(input_shape)}."
            )

    def call(self, inputs):
        square_of_sum = ops.square(ops.sum(inputs, axis=1))
        sum_of_square = ops.sum(ops.square(inputs), axis=1)
        return 0.5 * ops.sum(square_of_sum - sum_of_square, axis=1, keepdims=True)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], 1)
