"""Kernel outer products between field embeddings (PNN)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from ctrkit.layers.checks import check_choice, check_int
from ctrkit.layers.interaction._pairwise import check_field_list, field_pairs, gather_pairs

_KERNEL_TYPES = ("mat", "vec", "num")


@keras.saving.register_keras_serializable(package="ctrkit")
class OutterProductLayer(keras.layers.Layer):
    """Kernel product of every pair of field embeddings, as used in the OPNN
    variant of PNN (the kernel form of the paper's authors' code).

    For each pair ``n = (i, j)``, ``i < j`` (in the order of
    ``itertools.combinations(range(N), 2)``), with ``p = v_i`` and ``q = v_j``:

    * ``kernel_type="mat"``: ``sum_{e,f} q_e * K[e, n, f] * p_f``, a full
      ``E x E`` matrix per pair (kernel shape ``(E, num_pairs, E)``);
    * ``"vec"``: ``sum_e p_e * q_e * K[n, e]`` (kernel ``(num_pairs, E)``);
    * ``"num"``: ``K[n] * <p, q>`` (kernel ``(num_pairs, 1)``).

    Input shape:
        A list of ``N >= 2`` 3D tensors ``(batch_size, 1, embedding_size)``.

    Output shape:
        2D tensor ``(batch_size, N*(N-1)/2)``.

    Args:
        kernel_type: str, the kernel weight type: ``"mat"``, ``"vec"`` or
            ``"num"``.
        seed: Integer seed of the kernel initializer.

    Example:
        >>> import numpy as np
        >>> fields = [np.ones((2, 1, 4), "float32")] * 3
        >>> tuple(OutterProductLayer(kernel_type="vec")(fields).shape)
        (2, 3)

    Reference:
        Qu Y, Cai H, Ren K, et al. Product-based neural networks for user
        response prediction. ICDM 2016. https://arxiv.org/pdf/1611.00144.pdf
    """

    def __init__(self, kernel_type: str = "mat", seed: int = 1024, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kernel_type = check_choice("kernel_type", kernel_type, _KERNEL_TYPES)
        self.seed = check_int("seed", seed)

    def build(self, input_shape: list) -> None:
        num_fields, embedding_size = check_field_list("OutterProductLayer", input_shape)
        self._rows, self._cols = field_pairs(num_fields)
        num_pairs = len(self._rows)
        shape = {
            "mat": (embedding_size, num_pairs, embedding_size),
            "vec": (num_pairs, embedding_size),
            "num": (num_pairs, 1),
        }[self.kernel_type]
        self.kernel = self.add_weight(
            name="kernel", shape=shape, initializer=keras.initializers.GlorotUniform(seed=self.seed)
        )

    def call(self, inputs):
        p, q = gather_pairs(inputs, self._rows, self._cols)
        if self.kernel_type == "mat":
            kernel_p = ops.einsum("bnf,enf->bne", p, self.kernel)
            return ops.sum(kernel_p * q, axis=-1)
        return ops.sum(p * q * self.kernel, axis=-1)

    def compute_output_shape(self, input_shape: list) -> tuple:
        num_fields = len(input_shape)
        return (input_shape[0][0], num_fields * (num_fields - 1) // 2)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"kernel_type": self.kernel_type, "seed": self.seed})
        return config
