"""K-max pooling: the k largest values along one axis."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from ctrkit.layers.checks import check_int


@keras.saving.register_keras_serializable(package="ctrkit")
class KMaxPooling(keras.layers.Layer):
    """Keeps the `k` largest values along `axis`, sorted in decreasing order.

    Input shape:
        nD tensor `(batch_size, ..., input_dim)`.

    Output shape:
        The input shape with dimension `axis` replaced by `k`.

    Args:
        k: positive integer, how many of the largest values to keep; at most
            the size of `axis`.
        axis: the axis to pool over; negative values count from the end. The
            batch axis (0) cannot be pooled.

    Example:
        >>> import numpy as np
        >>> x = np.array([[[1.0, 5.0], [3.0, 2.0], [4.0, 0.0]]], "float32")
        >>> KMaxPooling(k=2, axis=1)(x).numpy().tolist()
        [[[4.0, 5.0], [3.0, 2.0]]]

    Reference:
        Liu Q, Yu F, Wu S, et al. A convolutional click prediction model.
        CIKM 2015 (CCPM).
    """

    def __init__(self, k: int = 1, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.k = check_int("k", k, 1)
        self.axis = check_int("axis", axis)

    def _resolve_axis(self, rank: int) -> int:
        axis = self.axis + rank if self.axis < 0 else self.axis
        if not 1 <= axis < rank:
            raise ValueError(
                f"axis must address a non-batch axis of a rank-{rank} input "
                f"(1..{rank - 1} or -{rank - 1}..-1), got {self.axis}"
            )
        return axis

    def build(self, input_shape: tuple) -> None:
        axis = self._resolve_axis(len(input_shape))
        size = input_shape[axis]
        if size is not None and self.k > size:
            raise ValueError(f"k must be at most {size} (the size of axis {self.axis}), got {self.k}")

    def call(self, inputs: Any) -> Any:
        rank = len(inputs.shape)
        axis = self._resolve_axis(rank)
        if axis == rank - 1:
            return ops.top_k(inputs, self.k, sorted=True)[0]
        perm = list(range(rank))
        perm[axis], perm[-1] = perm[-1], perm[axis]
        top = ops.top_k(ops.transpose(inputs, perm), self.k, sorted=True)[0]
        return ops.transpose(top, perm)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        shape = list(input_shape)
        shape[self._resolve_axis(len(shape))] = self.k
        return tuple(shape)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"k": self.k, "axis": self.axis})
        return config
