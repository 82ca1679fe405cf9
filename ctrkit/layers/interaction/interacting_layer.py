"""Multi-head self-attention over feature fields (AutoInt)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from ctrkit.layers.checks import check_bool, check_int


@keras.saving.register_keras_serializable(package="ctrkit")
class InteractingLayer(keras.layers.Layer):
    """Multi-head self-attention between feature fields, as used in AutoInt.

    Each head ``h`` projects the field embeddings to queries, keys and values of
    size ``att_embedding_size``, attends every field to every field with
    ``softmax(Q_h K_h^T [/ sqrt(att_embedding_size)])`` and mixes the values.
    The heads are concatenated along the last axis (head 0 first), a projected
    residual ``inputs @ W_Res`` is added when ``use_res``, and a ReLU is applied.

    Input shape:
        3D tensor ``(batch_size, field_size, embedding_size)``.

    Output shape:
        3D tensor ``(batch_size, field_size, att_embedding_size * head_num)``.

    Args:
        att_embedding_size: size of each head's query, key and value vectors.
        head_num: number of attention heads.
        use_res: add a linear projection of the inputs before the activation.
        scaling: divide the attention logits by ``sqrt(att_embedding_size)``.
        seed: seed of the weight initializers.

    Example:
        >>> import numpy as np
        >>> layer = InteractingLayer(att_embedding_size=4, head_num=2)
        >>> tuple(layer(np.ones((2, 5, 6), "float32")).shape)
        (2, 5, 8)

    Reference:
        Song et al., AutoInt: Automatic Feature Interaction Learning via
        Self-Attentive Neural Networks, https://arxiv.org/abs/1810.11921
    """

    def __init__(
        self,
        att_embedding_size: int = 8,
        head_num: int = 2,
        use_res: bool = True,
        scaling: bool = False,
        seed: int = 1024,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.att_embedding_size = check_int("att_embedding_size", att_embedding_size, 1)
        self.head_num = check_int("head_num", head_num, 1)
        self.use_res = check_bool("use_res", use_res)
        self.scaling = check_bool("scaling", scaling)
        self.seed = check_int("seed", seed)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                f"InteractingLayer expects a 3D input (batch_size, field_size, embedding_size) "
                f"with a known embedding_size, got shape {tuple(input_shape)}."
            )
        shape = (input_shape[-1], self.att_embedding_size * self.head_num)

        def weight(name: str, seed: int):
            return self.add_weight(
                name=name, shape=shape, initializer=keras.initializers.TruncatedNormal(seed=seed)
            )

        self.W_Query = weight("query", self.seed)
        self.W_key = weight("key", self.seed + 1)
        self.W_Value = weight("value", self.seed + 2)
        if self.use_res:
            self.W_Res = weight("res", self.seed + 3)

    def call(self, inputs):
        head_shape = (-1, ops.shape(inputs)[1], self.head_num, self.att_embedding_size)

        def heads(kernel):  # (batch, heads, fields, att_embedding_size)
            projected = ops.reshape(ops.matmul(inputs, kernel), head_shape)
            return ops.transpose(projected, (0, 2, 1, 3))

        querys, keys, values = heads(self.W_Query), heads(self.W_key), heads(self.W_Value)
        logits = ops.matmul(querys, ops.transpose(keys, (0, 1, 3, 2)))
        if self.scaling:
            logits = logits / (self.att_embedding_size**0.5)
        attended = ops.matmul(ops.softmax(logits, axis=-1), values)
        result = ops.reshape(
            ops.transpose(attended, (0, 2, 1, 3)),
            (-1, ops.shape(inputs)[1], self.head_num * self.att_embedding_size),
        )
        if self.use_res:
            result = result + ops.matmul(inputs, self.W_Res)
        return ops.relu(result)

    def compute_output_shape(
        self, input_shape: tuple[int | None, ...]
    ) -> tuple[int | None, int | None, int]:
        return (input_shape[0], input_shape[1], self.att_embedding_size * self.head_num)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "att_embedding_size": self.att_embedding_size,
                "head_num": self.head_num,
                "use_res": self.use_res,
                "scaling": self.scaling,
                "seed": self.seed,
            }
        )
        return config
