"""Inner products between field embeddings (PNN)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from ctrkit.layers.checks import check_bool
from ctrkit.layers.interaction._pairwise import check_field_list, field_pairs, gather_pairs


@keras.saving.register_keras_serializable(package="ctrkit")
class InnerProductLayer(keras.layers.Layer):
    """Inner product (or element-wise product) of every pair of field
    embeddings, as used in the IPNN variant of PNN.

    For the ``N`` fields ``v_1 .. v_N`` and each pair ``i < j`` (in the order
    of ``itertools.combinations(range(N), 2)``) it returns ``<v_i, v_j>`` when
    ``reduce_sum`` is true, else the vector ``v_i * v_j``.

    Input shape:
        A list of ``N >= 2`` 3D tensors ``(batch_size, 1, embedding_size)``.

    Output shape:
        3D tensor ``(batch_size, N*(N-1)/2, 1)`` if ``reduce_sum``, else
        ``(batch_size, N*(N-1)/2, embedding_size)``.

    Args:
        reduce_sum: bool. Whether to return the inner products or the
            element-wise products.

    Example:
        >>> import numpy as np
        >>> fields = [np.ones((2, 1, 4), "float32")] * 3
        >>> tuple(InnerProductLayer()(fields).shape)
        (2, 3, 1)

    Reference:
        Qu Y, Cai H, Ren K, et al. Product-based neural networks for user
        response prediction. ICDM 2016. https://arxiv.org/pdf/1611.00144.pdf
    """

    def __init__(self, reduce_sum: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reduce_sum = check_bool("reduce_sum", reduce_sum)

    def build(self, input_shape: list) -> None:
        num_fields, _ = check_field_list("InnerProductLayer", input_shape)
        self._rows, self._cols = field_pairs(num_fields)

    def call(self, inputs):
        p, q = gather_pairs(inputs, self._rows, self._cols)
        product = p * q
        if self.reduce_sum:
            return ops.sum(product, axis=2, keepdims=True)
        return product

    def compute_output_shape(self, input_shape: list) -> tuple:
        num_fields = len(input_shape)
        last = 1 if self.reduce_sum else input_shape[0][-1]
        return (input_shape[0][0], num_fields * (num_fields - 1) // 2, last)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"reduce_sum": self.reduce_sum})
        return config
