"""Bilinear feature interaction of FiBiNET."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from ctrkit.layers.checks import check_choice, check_int
from ctrkit.layers.interaction._pairwise import check_field_list, field_pairs, gather_pairs

_BILINEAR_TYPES = ("all", "each", "interaction")


@keras.saving.register_keras_serializable(package="ctrkit")
class BilinearInteraction(keras.layers.Layer):
    """Bilinear interaction of FiBiNET: for every pair of fields ``i < j`` (in
    the order of ``itertools.combinations(range(N), 2)``) it returns
    ``(v_i @ W) * v_j`` (element-wise product), where ``W`` is an
    ``E x E`` matrix

    * ``bilinear_type="all"``: one ``W`` shared by all pairs;
    * ``"each"``: one ``W_i`` per field ``i`` (the left side of the pair);
    * ``"interaction"``: one ``W_ij`` per pair.

    Input shape:
        A list of ``N >= 2`` 3D tensors ``(batch_size, 1, embedding_size)``.

    Output shape:
        3D tensor ``(batch_size, N*(N-1)/2, embedding_size)``.

    Args:
        bilinear_type: str, ``"all"``, ``"each"`` or ``"interaction"``.
        seed: Integer seed of the weight initializer.

    Example:
        >>> import numpy as np
        >>> fields = [np.ones((2, 1, 4), "float32")] * 3
        >>> tuple(BilinearInteraction(bilinear_type="each")(fields).shape)
        (2, 3, 4)

    Reference:
        Huang T, Zhang Z, Zhang J. FiBiNET: Combining Feature Importance and
        Bilinear feature Interaction for Click-Through Rate Prediction.
        RecSys 2019. https://arxiv.org/pdf/1905.09433.pdf
    """

    def __init__(self, bilinear_type: str = "interaction", seed: int = 1024, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bilinear_type = check_choice("bilinear_type", bilinear_type, _BILINEAR_TYPES)
        self.seed = check_int("seed", seed)

    def build(self, input_shape: list) -> None:
        num_fields, embedding_size = check_field_list("BilinearInteraction", input_shape)
        self._rows, self._cols = field_pairs(num_fields)
        num_matrices = {"all": 1, "each": num_fields - 1, "interaction": len(self._rows)}[self.bilinear_type]
        # The matrices are stacked in one weight; a variance scale of
        # `num_matrices` undoes the fan-in/fan-out growth that the stacking
        # axis causes, so each E x E slice is Glorot-normal on its own.
        self.W = self.add_weight(
            name="bilinear_weight",
            shape=(num_matrices, embedding_size, embedding_size),
            initializer=keras.initializers.VarianceScaling(
                scale=float(num_matrices), mode="fan_avg", distribution="truncated_normal", seed=self.seed
            ),
        )

    def call(self, inputs):
        if self.bilinear_type == "interaction":
            p, q = gather_pairs(inputs, self._rows, self._cols)
            return ops.einsum("bne,nef->bnf", p, self.W) * q
        fields = ops.concatenate(list(inputs), axis=1)
        if self.bilinear_type == "all":
            projected = ops.matmul(fields, self.W[0])
        else:
            projected = ops.einsum("bne,nef->bnf", fields[:, :-1, :], self.W)
        return ops.take(projected, self._rows, axis=1) * ops.take(fields, self._cols, axis=1)

    def compute_output_shape(self, input_shape: list) -> tuple:
        num_fields = len(input_shape)
        return (input_shape[0][0], num_fields * (num_fields - 1) // 2, input_shape[0][-1])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"bilinear_type": self.bilinear_type, "seed": self.seed})
        return config
