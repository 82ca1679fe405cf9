"""DSIN's bias encoding of session, position and embedding dimension."""

from __future__ import annotations

from typing import Any

import keras

from ctrkit.layers.checks import check_int


@keras.saving.register_keras_serializable(package="ctrkit")
class BiasEncoding(keras.layers.Layer):
    """Adds DSIN's bias encoding to the behaviours of every session.

    For session `k`, position `t` and embedding dimension `c` the layer adds
    `w_k^K + w_t^T + w_c^C` (a session bias, a position bias and a dimension
    bias, all learned) to the behaviour embedding, so that self-attention over
    the sessions can tell the order of sessions and of behaviours apart.

    Input shape:
        A list of `sess_max_count` tensors, each `(batch_size, T, embedding_size)`.

    Output shape:
        A list of the same shapes. Input masks are passed on.

    Args:
        sess_max_count: positive integer, the number of sessions.
        seed: random seed of the bias initialisers.

    Example:
        >>> import numpy as np
        >>> sessions = [np.zeros((2, 4, 8), "float32") for _ in range(3)]
        >>> len(BiasEncoding(3)(sessions))
        3

    Reference:
        Feng Y, Lv F, Shen W, et al. Deep Session Interest Network for
        Click-Through Rate Prediction. IJCAI 2019.
        https://arxiv.org/abs/1905.06482
    """

    def __init__(self, sess_max_count: int, seed: int = 1024, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sess_max_count = check_int("sess_max_count", sess_max_count, 1)
        self.seed = check_int("seed", seed)
        self.supports_masking = True

    def _check_shapes(self, input_shape: Any) -> tuple:
        if (
            not isinstance(input_shape, (list, tuple))
            or len(input_shape) != self.sess_max_count
            or not all(isinstance(s, (list, tuple)) for s in input_shape)
        ):
            raise ValueError(
                f"BiasEncoding(sess_max_count={self.sess_max_count}) expects a list of "
                f"{self.sess_max_count} tensors of shape (batch_size, T, embedding_size)"
            )
        first = tuple(input_shape[0])
        for shape in input_shape:
            if len(shape) != 3 or tuple(shape)[1:] != first[1:] or None in first[1:]:
                raise ValueError(
                    "every session must have the same known shape (batch_size, T, embedding_size), "
                    f"got {[tuple(s) for s in input_shape]}"
                )
        return first

    def build(self, input_shape: Any) -> None:
        _, length, dim = self._check_shapes(input_shape)

        def init(offset: int) -> keras.initializers.Initializer:
            return keras.initializers.TruncatedNormal(mean=0.0, stddev=1e-4, seed=self.seed + offset)

        self.sess_bias_embedding = self.add_weight(
            name="sess_bias_embedding", shape=(self.sess_max_count, 1, 1), initializer=init(0)
        )
        self.seq_bias_embedding = self.add_weight(
            name="seq_bias_embedding", shape=(1, length, 1), initializer=init(1)
        )
        self.item_bias_embedding = self.add_weight(
            name="item_bias_embedding", shape=(1, 1, dim), initializer=init(2)
        )

    def call(self, inputs: Any, mask: Any = None) -> list:
        shared = self.item_bias_embedding + self.seq_bias_embedding
        return [
            session + shared + self.sess_bias_embedding[i] for i, session in enumerate(inputs)
        ]

    def compute_output_shape(self, input_shape: Any) -> list:
        return [tuple(s) for s in input_shape]

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if mask is None:
            return None
        return list(mask)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"sess_max_count": self.sess_max_count, "seed": self.seed})
        return config
