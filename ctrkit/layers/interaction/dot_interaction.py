"""The dot interaction layer of DLRM."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from ctrkit.layers.checks import check_bool


@keras.saving.register_keras_serializable(package="ctrkit")
class DotInteraction(keras.layers.Layer):
    """Pairwise dot products between feature vectors, as in DLRM.

    The features ``e_1 .. e_F`` are stacked and multiplied with their
    transpose into the ``F x F`` interaction matrix ``Z[i, j] = dot(e_i, e_j)``.
    Its lower triangle holds every distinct pair once: ``j < i``, or ``j <= i``
    with ``self_interaction``. That triangle is returned flattened in row-major
    order (``Z[1,0], Z[2,0], Z[2,1], Z[3,0], ...``), or, with ``skip_gather``,
    the whole flattened matrix with the entries outside the triangle set to
    zero, which avoids a gather at the cost of a wider output.

    Input shape:
        A list of ``F`` 2D tensors, each ``(batch_size, feature_dim)``, all of
        the same shape.

    Output shape:
        ``(batch_size, k)`` with ``k = F * (F - 1) / 2``, or ``F * (F + 1) / 2``
        if ``self_interaction``, or ``F * F`` if ``skip_gather``.

    Args:
        self_interaction: Whether to include each feature's dot product with
            itself (the diagonal).
        skip_gather: Whether to return the full zero-masked ``F * F`` matrix
            instead of gathering the triangle.

    Example:
        >>> import numpy as np
        >>> features = [np.ones((2, 8), "float32") for _ in range(3)]
        >>> tuple(DotInteraction()(features).shape)
        (2, 3)
        >>> tuple(DotInteraction(self_interaction=True)(features).shape)
        (2, 6)

    Reference:
        Naumov M, Mudigere D, Shi H M, et al. Deep learning recommendation
        model for personalization and recommendation systems. 2019.
        https://arxiv.org/abs/1906.00091
    """

    def __init__(self, self_interaction: bool = False, skip_gather: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.self_interaction = check_bool("self_interaction", self_interaction)
        self.skip_gather = check_bool("skip_gather", skip_gather)

    def _kept(self, num_features: int) -> list[tuple[int, int]]:
        """(row, column) of the interaction matrix entries kept, row-major."""
        offset = 1 if self.self_interaction else 0
        return [(i, j) for i in range(num_features) for j in range(i + offset)]

    def build(self, input_shape: list) -> None:
        if not isinstance(input_shape, (list, tuple)) or not input_shape or not isinstance(
            input_shape[0], (list, tuple)
        ):
            raise ValueError("DotInteraction must be called on a list of 2D feature tensors.")
        first = tuple(input_shape[0])
        for index, shape in enumerate(input_shape):
            shape = tuple(shape)
            if len(shape) != 2:
                raise ValueError(
                    f"DotInteraction expects 2D feature tensors, got shape {shape} at index {index}."
                )
            if shape[1] != first[1]:
                raise ValueError(
                    "DotInteraction expects feature tensors of one shape, got "
                    f"{first} at index 0 and {shape} at index {index}."
                )
        num_features = len(input_shape)
        kept = self._kept(num_features)
        if self.skip_gather:
            mask = [[0.0] * num_features for _ in range(num_features)]
            for i, j in kept:
                mask[i][j] = 1.0
            self._tril_mask = mask
        else:
            self._flat_indices = [i * num_features + j for i, j in kept]

    def call(self, inputs):
        num_features = len(inputs)
        features = ops.stack(inputs, axis=1)
        interactions = ops.matmul(features, ops.transpose(features, axes=(0, 2, 1)))
        if self.skip_gather:
            mask = ops.convert_to_tensor(self._tril_mask, dtype=interactions.dtype)
            return ops.reshape(interactions * mask, (-1, num_features * num_features))
        flat = ops.reshape(interactions, (-1, num_features * num_features))
        return ops.take(flat, ops.convert_to_tensor(self._flat_indices, dtype="int32"), axis=1)

    def compute_output_shape(self, input_shape: list) -> tuple:
        num_features = len(input_shape)
        if self.skip_gather:
            width = num_features * num_features
        else:
            width = len(self._kept(num_features))
        return (input_shape[0][0], width)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"self_interaction": self.self_interaction, "skip_gather": self.skip_gather})
        return config
