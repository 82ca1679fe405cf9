"""A simplified Transformer block over variable-length sequences."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from ctrkit.layers.checks import check_bool, check_choice, check_int, check_number
from ctrkit.layers.sequence.position_encoding import PositionEncoding

ATTENTION_TYPES = ("scaled_dot_product", "cos", "ln", "additive")
COS_SCALE = 20.0  # cosine scores lie in [-1, 1]: scaled, as DeepCTR does, so the softmax can be peaked
OUTPUT_TYPES = ("mean", "sum", None)


@keras.saving.register_keras_serializable(package="ctrkit")
class Transformer(keras.layers.Layer):
    """Simplified Transformer block: multi-head attention of `queries` over
    `keys`, then a point-wise feed-forward network (used in BST and DSIN).

    Steps:

    1. optional position encodings (:class:`PositionEncoding`) are added to
       `queries` and to `keys`;
    2. per head, queries, keys and values are linear projections of size
       `att_embedding_size`; scores are `Q K^T / sqrt(att_embedding_size)`
       (`'scaled_dot_product'`), `20 cos(Q_i, K_j)` (`'cos'`), the scaled dot
       product of layer-normalised `Q` and `K` (`'ln'`, each head's vectors
       normalised with their own learned scale and offset) or
       `v . tanh(Q_i + K_j + b)` (`'additive'`);
    3. padded keys get no attention; with `blinding=True` position `i` does not
       attend to key `i` either; a query with no key left gets a zero
       attention result;
    4. the heads are concatenated, then residual (`use_res`), layer norm
       (`use_layer_norm`), the feed-forward network `relu(x W1) W2` with
       `4 * embedding_size` hidden units (`use_feed_forward`), again residual
       and layer norm;
    5. `output_type='mean'` / `'sum'` pools over the valid query positions;
       `None` returns every position, with zeros at padded ones.

    Input shape:
        * `supports_masking=False`: a list
          `[queries, keys, query_len, key_len]`: `queries`
          `(batch_size, T_q, embedding_size)`, `keys`
          `(batch_size, T_k, embedding_size)`, the lengths `(batch_size, 1)`.
        * `supports_masking=True`: a list `[queries, keys]`, both carrying Keras
          masks.

    Output shape:
        `(batch_size, 1, embedding_size)` for `output_type` `'mean'` or
        `'sum'`, else `(batch_size, T_q, embedding_size)` (which keeps the
        query mask when `supports_masking=True`).

    Args:
        att_embedding_size: size of each attention head;
            `att_embedding_size * head_num` must equal `embedding_size`.
        head_num: number of attention heads.
        dropout_rate: float in `[0, 1)`, dropout on the attention weights and
            in the feed-forward network.
        use_positional_encoding: add position encodings first.
        use_res: residual connections around attention and feed-forward.
        use_feed_forward: apply the point-wise feed-forward network.
        use_layer_norm: layer normalisation after attention and feed-forward.
        blinding: forbid each position to attend to the key at its own index.
        seed: random seed of the initialisers and dropout.
        supports_masking: read the valid positions from Keras masks instead of
            length inputs.
        attention_type: `'scaled_dot_product'`, `'cos'`, `'ln'` or `'additive'`.
        output_type: `'mean'`, `'sum'` or `None`.

    Example:
        >>> import numpy as np
        >>> x = np.ones((2, 5, 8), "float32")
        >>> length = np.array([[3], [5]], "int32")
        >>> tuple(Transformer(att_embedding_size=4, head_num=2)([x, x, length, length]).shape)
        (2, 1, 8)

    Reference:
        Vaswani A, Shazeer N, Parmar N, et al. Attention is all you need.
        NIPS 2017. https://arxiv.org/abs/1706.03762
    """

    def __init__(
        self,
        att_embedding_size: int = 1,
        head_num: int = 8,
        dropout_rate: float = 0.0,
        use_positional_encoding: bool = True,
        use_res: bool = True,
        use_feed_forward: bool = True,
        use_layer_norm: bool = False,
        blinding: bool = True,
        seed: int = 1024,
        supports_masking: bool = False,
        attention_type: str = "scaled_dot_product",
        output_type: str | None = "mean",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.att_embedding_size = check_int("att_embedding_size", att_embedding_size, 1)
        self.head_num = check_int("head_num", head_num, 1)
        self.num_units = self.att_embedding_size * self.head_num
        self.dropout_rate = check_number("dropout_rate", dropout_rate, 0, 1)
        self.use_positional_encoding = check_bool("use_positional_encoding", use_positional_encoding)
        self.use_res = check_bool("use_res", use_res)
        self.use_feed_forward = check_bool("use_feed_forward", use_feed_forward)
        self.use_layer_norm = check_bool("use_layer_norm", use_layer_norm)
        self.blinding = check_bool("blinding", blinding)
        self.seed = check_int("seed", seed)
        self.use_input_mask = check_bool("supports_masking", supports_masking)
        # A mask is accepted in either mode, never warned about; compute_mask
        # decides what is passed on.
        self.supports_masking = True
        self.attention_type = check_choice("attention_type", attention_type, ATTENTION_TYPES)
        self.output_type = check_choice("output_type", output_type, OUTPUT_TYPES)

        self.dropout = keras.layers.Dropout(dropout_rate, seed=seed)
        if use_positional_encoding:
            self.query_pe = PositionEncoding(name="query_position_encoding")
            self.key_pe = PositionEncoding(name="key_position_encoding")
        if self.attention_type == "ln":
            self.query_head_ln = keras.layers.LayerNormalization(name="query_head_layer_norm")
            self.key_head_ln = keras.layers.LayerNormalization(name="key_head_layer_norm")
        if use_layer_norm:
            self.attention_ln = keras.layers.LayerNormalization(name="attention_layer_norm")
            self.feed_forward_ln = keras.layers.LayerNormalization(name="feed_forward_layer_norm")

    def _split_shapes(self, input_shape: Any) -> tuple[tuple, tuple]:
        expected = 2 if self.use_input_mask else 4
        if (
            not isinstance(input_shape, (list, tuple))
            or len(input_shape) != expected
            or not all(isinstance(s, (list, tuple)) for s in input_shape)
        ):
            names = "[queries, keys]" if self.use_input_mask else "[queries, keys, query_len, key_len]"
            raise ValueError(f"Transformer(supports_masking={self.use_input_mask}) expects a list {names}")
        query_shape, key_shape = tuple(input_shape[0]), tuple(input_shape[1])
        if len(query_shape) != 3 or len(key_shape) != 3:
            raise ValueError(f"queries and keys must be 3D, got {query_shape} and {key_shape}")
        if query_shape[-1] != self.num_units or key_shape[-1] != self.num_units:
            raise ValueError(
                "att_embedding_size * head_num must equal the last dimension of queries and keys, "
                f"got {self.att_embedding_size} * {self.head_num} != {query_shape[-1]} / {key_shape[-1]}"
            )
        return query_shape, key_shape

    def build(self, input_shape: Any) -> None:
        query_shape, key_shape = self._split_shapes(input_shape)
        units, size = self.num_units, self.att_embedding_size

        def projection(name: str, offset: int) -> Any:
            return self.add_weight(
                name=name,
                shape=(units, units),
                initializer=keras.initializers.TruncatedNormal(seed=self.seed + offset),
            )

        self.W_Query = projection("query", 0)
        self.W_Key = projection("key", 1)
        self.W_Value = projection("value", 2)
        if self.attention_type == "additive":
            self.b = self.add_weight(
                name="b", shape=(size,), initializer=keras.initializers.GlorotUniform(self.seed)
            )
            self.v = self.add_weight(
                name="v", shape=(size,), initializer=keras.initializers.GlorotUniform(self.seed + 1)
            )
        if self.use_feed_forward:
            self.fw1 = self.add_weight(
                name="fw1",
                shape=(units, 4 * units),
                initializer=keras.initializers.GlorotUniform(self.seed),
            )
            self.fw2 = self.add_weight(
                name="fw2",
                shape=(4 * units, units),
                initializer=keras.initializers.GlorotUniform(self.seed + 1),
            )
        if self.use_positional_encoding:
            self.query_pe.build(query_shape)
            self.key_pe.build(key_shape)
        if self.attention_type == "ln":
            self.query_head_ln.build((query_shape[0], self.head_num, query_shape[1], size))
            self.key_head_ln.build((key_shape[0], self.head_num, key_shape[1], size))
        if self.use_layer_norm:
            self.attention_ln.build(query_shape)
            self.feed_forward_ln.build(query_shape)

    def _heads(self, x: Any, kernel: Any) -> Any:
        """(B, T, E) @ (E, h*d) -> (B, h, T, d)."""
        projected = ops.matmul(x, kernel)
        shape = ops.shape(x)
        split = ops.reshape(projected, (shape[0], shape[1], self.head_num, self.att_embedding_size))
        return ops.transpose(split, (0, 2, 1, 3))

    def call(self, inputs: Any, mask: Any = None, training: Any = None) -> Any:
        if self.use_input_mask:
            queries, keys = inputs
            masks = mask if isinstance(mask, (list, tuple)) else (None, None)
            if masks[0] is None or masks[1] is None:
                raise ValueError(
                    "Transformer(supports_masking=True) needs queries and keys that carry Keras "
                    "masks, e.g. from Embedding(mask_zero=True)"
                )
            query_valid, key_valid = (ops.cast(m, "bool") for m in masks)
        else:
            queries, keys, query_len, key_len = inputs

            def valid_steps(x: Any, length: Any) -> Any:
                positions = ops.arange(ops.shape(x)[1], dtype="int32")
                return positions[None, :] < ops.reshape(ops.cast(length, "int32"), (-1, 1))

            query_valid, key_valid = valid_steps(queries, query_len), valid_steps(keys, key_len)

        if self.use_positional_encoding:
            queries = self.query_pe(queries)
            keys = self.key_pe(keys)

        q = self._heads(queries, self.W_Query)  # (B, h, T_q, d)
        k = self._heads(keys, self.W_Key)  # (B, h, T_k, d)
        v = self._heads(keys, self.W_Value)
        if self.attention_type == "cos":
            q, k = ops.normalize(q, axis=-1), ops.normalize(k, axis=-1)
            scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) * COS_SCALE
        elif self.attention_type in ("scaled_dot_product", "ln"):
            if self.attention_type == "ln":
                q, k = self.query_head_ln(q), self.key_head_ln(k)
            scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) / float(np.sqrt(self.att_embedding_size))
        else:
            hidden = ops.tanh(q[:, :, :, None, :] + k[:, :, None, :, :] + self.b)
            scores = ops.sum(hidden * self.v, axis=-1)  # (B, h, T_q, T_k)

        allowed = key_valid[:, None, None, :]
        if self.blinding:
            q_pos = ops.arange(ops.shape(queries)[1], dtype="int32")
            k_pos = ops.arange(ops.shape(keys)[1], dtype="int32")
            allowed = ops.logical_and(allowed, (q_pos[:, None] != k_pos[None, :])[None, None])
        lowest = np.finfo(keras.backend.standardize_dtype(scores.dtype)).min
        weights = ops.softmax(ops.where(allowed, scores, lowest), axis=-1)
        weights = ops.where(allowed, weights, ops.zeros_like(weights))
        weights = self.dropout(weights, training=training)

        attended = ops.transpose(ops.matmul(weights, v), (0, 2, 1, 3))  # (B, T_q, h, d)
        shape = ops.shape(queries)
        result = ops.reshape(attended, (shape[0], shape[1], self.num_units))
        if self.use_res:
            result = result + queries
        if self.use_layer_norm:
            result = self.attention_ln(result)
        if self.use_feed_forward:
            hidden = self.dropout(ops.relu(ops.matmul(result, self.fw1)), training=training)
            feed_forward = ops.matmul(hidden, self.fw2)
            result = result + feed_forward if self.use_res else feed_forward
            if self.use_layer_norm:
                result = self.feed_forward_ln(result)

        query_weight = ops.cast(query_valid, result.dtype)[:, :, None]
        result = result * query_weight
        if self.output_type is None:
            return result
        pooled = ops.sum(result, axis=1, keepdims=True)
        if self.output_type == "mean":
            pooled = pooled / ops.maximum(ops.sum(query_weight, axis=1, keepdims=True), 1.0)
        return pooled

    def compute_output_shape(self, input_shape: Any) -> tuple:
        query_shape, _ = self._split_shapes(input_shape)
        if self.output_type is None:
            return query_shape
        return (query_shape[0], 1, query_shape[-1])

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if self.output_type is None and self.use_input_mask and isinstance(mask, (list, tuple)):
            return mask[0]
        return None

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "att_embedding_size": self.att_embedding_size,
                "head_num": self.head_num,
                "dropout_rate": self.dropout_rate,
                "use_positional_encoding": self.use_positional_encoding,
                "use_res": self.use_res,
                "use_feed_forward": self.use_feed_forward,
                "use_layer_norm": self.use_layer_norm,
                "blinding": self.blinding,
                "seed": self.seed,
                "supports_masking": self.use_input_mask,
                "attention_type": self.attention_type,
                "output_type": self.output_type,
            }
        )
        return config
