"""Bi-Interaction pooling of Neural Factorization Machines."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="ctrkit")
class BiInteractionPooling(keras.layers.Layer):
    """Bi-Interaction pooling of NFM: the element-wise products of every pair
    of field embeddings, summed into one vector.

    With ``v_1 .. v_F`` the field embeddings it computes
    ``sum_{i<j} v_i * v_j = 0.5 * ((sum_i v_i)^2 - sum_i v_i^2)``
    (element-wise), in ``O(F * E)``.

    Input shape:
        3D tensor ``(batch_size, field_size, embedding_size)``.

    Output shape:
        3D tensor ``(batch_size, 1, embedding_size)``.

    Example:
        >>> import numpy as np
        >>> tuple(BiInteractionPooling()(np.ones((2, 3, 4), "float32")).shape)
        (2, 1, 4)

    Reference:
        He X, Chua T S. Neural factorization machines for sparse predictive
        analytics. SIGIR 2017. http://arxiv.org/abs/1708.05027
    """

    def build(self, input_shape: tuple) -> None:
        if len(input_shape) != 3:
            raise ValueError(
                "BiInteractionPooling expects a 3D input (batch_size, field_size, embedding_size), "
                f"got shape {tuple(input_shape)}."
            )

    def call(self, inputs):
        square_of_sum = ops.square(ops.sum(inputs, axis=1, keepdims=True))
        sum_of_square = ops.sum(ops.square(inputs), axis=1, keepdims=True)
        return 0.5 * (square_of_sum - sum_of_square)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], 1, input_shape[2])
