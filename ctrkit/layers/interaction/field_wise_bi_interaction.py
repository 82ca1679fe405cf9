"""Field-wise bi-interaction pooling (FLEN)."""

from __future__ import annotations

import itertools
from typing import Any

import keras
import numpy as np
from keras import ops

from ctrkit.layers.checks import check_bool, check_int


@keras.saving.register_keras_serializable(package="ctrkit")
class FieldWiseBiInteraction(keras.layers.Layer):
    """Field-wise bi-interaction used in FLEN: pairwise products of feature groups
    compressed into one vector.

    The input is one tensor per field group ``g`` (user, item, context, ...),
    holding that group's ``F_g`` feature embeddings. With ``s_g`` the sum of a
    group's embeddings:

    * MF part (inter-group): ``h_mf = sum_{g<k} r_gk * (s_g ⊙ s_k) [+ b_mf]``,
      ``r`` initialised to 1;
    * FM part (intra-group): ``h_fm = sum_g w_g * (s_g ⊙ s_g - sum_f v_gf ⊙ v_gf) [+ b_fm]``,
      ``w`` initialised to 0.5 (the usual FM one half);

    and the output is ``h_mf + h_fm``.

    Input shape:
        A list of ``G >= 2`` 3D tensors ``(batch_size, F_g, embedding_size)``;
        ``F_g`` may differ between groups.

    Output shape:
        2D tensor ``(batch_size, embedding_size)``.

    Args:
        use_bias: add the learned biases ``b_mf`` and ``b_fm``.
        seed: kept for DeepCTR compatibility; the weights have constant initial values.

    Example:
        >>> import numpy as np
        >>> layer = FieldWiseBiInteraction()
        >>> tuple(layer([np.ones((2, 3, 4), "float32"), np.ones((2, 2, 4), "float32")]).shape)
        (2, 4)

    Reference:
        Chen et al., FLEN: Leveraging Field for Scalable CTR Prediction,
        https://arxiv.org/pdf/1911.04690
    """

    def __init__(self, use_bias: bool = True, seed: int = 1024, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.use_bias = check_bool("use_bias", use_bias)
        self.seed = check_int("seed", seed)

    def build(self, input_shape: list[tuple[int | None, ...]]) -> None:
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) < 2 or not all(
            isinstance(s, (list, tuple)) for s in input_shape
        ):
            raise ValueError("FieldWiseBiInteraction should be called on a list of at least 2 inputs.")
        embedding_sizes = set()
        for shape in input_shape:
            if len(shape) != 3:
                raise ValueError(
                    "FieldWiseBiInteraction expects 3D inputs (batch_size, field_size, "
                    f"embedding_size), got shape {tuple(shape)}."
                )
            embedding_sizes.add(shape[-1])
        if len(embedding_sizes) != 1 or None in embedding_sizes:
            raise ValueError(
                "All inputs of FieldWiseBiInteraction need the same known embedding_size, "
                f"got shapes {[tuple(s) for s in input_shape]}."
            )
        num_groups = len(input_shape)
        embedding_size = embedding_sizes.pop()
        rows, cols = zip(*itertools.combinations(range(num_groups), 2))
        self._rows = np.asarray(rows, dtype="int32")
        self._cols = np.asarray(cols, dtype="int32")
        self.kernel_mf = self.add_weight(
            name="kernel_mf", shape=(len(rows), 1), initializer=keras.initializers.Ones()
        )
        self.kernel_fm = self.add_weight(
            name="kernel_fm", shape=(num_groups, 1), initializer=keras.initializers.Constant(0.5)
        )
        if self.use_bias:
            self.bias_mf = self.add_weight(
                name="bias_mf", shape=(embedding_size,), initializer=keras.initializers.Zeros()
            )
            self.bias_fm = self.add_weight(
                name="bias_fm", shape=(embedding_size,), initializer=keras.initializers.Zeros()
            )

    def call(self, inputs):
        group_sums = [ops.sum(group, axis=1) for group in inputs]
        sums = ops.stack(group_sums, axis=1)  # (batch, groups, emb)

        products = ops.take(sums, self._rows, axis=1) * ops.take(sums, self._cols, axis=1)
        h_mf = ops.sum(products * self.kernel_mf, axis=1)

        intra = ops.stack(
            [ops.square(s) - ops.sum(ops.square(group), axis=1) for s, group in zip(group_sums, inputs)],
            axis=1,
        )
        h_fm = ops.sum(intra * self.kernel_fm, axis=1)

        if self.use_bias:
            h_mf = h_mf + self.bias_mf
            h_fm = h_fm + self.bias_fm
        return h_mf + h_fm

    def compute_output_shape(
        self, input_shape: list[tuple[int | None, ...]]
    ) -> tuple[int | None, int | None]:
        return (input_shape[0][0], input_shape[0][-1])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"use_bias": self.use_bias, "seed": self.seed})
        return config
