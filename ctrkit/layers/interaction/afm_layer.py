"""Attentional Factorization Machine pairwise interaction layer."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from ctrkit.layers.checks import check_int, check_number
from ctrkit.layers.interaction._pairwise import check_field_list, field_pairs, gather_pairs


@keras.saving.register_keras_serializable(package="ctrkit")
class AFMLayer(keras.layers.Layer):
    """Attentional Factorization Machine: pairwise (order-2) feature
    interactions weighted by a small attention network, without linear term
    and bias.

    For every pair of fields ``i < j`` (in the order of
    ``itertools.combinations(range(N), 2)``) it forms ``u_ij = v_i * v_j``
    (element-wise), scores it with
    ``a_ij = softmax_ij(relu(u_ij @ attention_W + attention_b) @ projection_h)``
    and returns ``dropout(sum_ij a_ij * u_ij) @ projection_p``.

    Attention weights: after every call ``normalized_att_score`` holds the
    scores ``a`` of that call, ``(batch_size, N*(N-1)/2, 1)``, so after an
    eager call ``layer(fields)`` they are a concrete tensor. Inside a
    functional model the layer runs in a compiled graph, so get them with a
    sub-model built by :meth:`attention_scores` on the layer's inputs::

        afm = next(l for l in model.layers if isinstance(l, AFMLayer))
        weights_model = keras.Model(model.input, afm.attention_scores(afm.input))
        attentional_weights = weights_model.predict(model_input)
        # attentional_weights[:, n, 0] is the weight of the n-th pair of
        # itertools.combinations(fields, 2) for every sample.

    The sub-model shares the layer's weights. ``afm.input`` is defined when
    the layer was called once in the model; otherwise pass the tensors it was
    called on.

    Input shape:
        A list of ``N >= 2`` 3D tensors ``(batch_size, 1, embedding_size)``.

    Output shape:
        2D tensor ``(batch_size, 1)``.

    Args:
        attention_factor: Positive integer, dimensionality of the attention
            network output space.
        l2_reg_w: Float >= 0, L2 regularisation strength of the attention
            network kernel.
        dropout_rate: Float in [0, 1), fraction of the attention output units
            to drop during training.
        seed: Integer seed of the initializers and of the dropout.

    Example:
        >>> import numpy as np
        >>> layer = AFMLayer(attention_factor=4)
        >>> fields = [np.ones((2, 1, 8), "float32")] * 3
        >>> tuple(layer(fields).shape)
        (2, 1)
        >>> tuple(layer.normalized_att_score.shape)
        (2, 3, 1)

    Reference:
        Xiao J, Ye H, He X, et al. Attentional Factorization Machines:
        Learning the Weight of Feature Interactions via Attention Networks.
        IJCAI 2017. https://arxiv.org/pdf/1708.04617.pdf
    """

    def __init__(
        self,
        attention_factor: int = 4,
        l2_reg_w: float = 0,
        dropout_rate: float = 0,
        seed: int = 1024,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.attention_factor = check_int("attention_factor", attention_factor, 1)
        self.l2_reg_w = check_number("l2_reg_w", l2_reg_w, 0)
        self.dropout_rate = check_number("dropout_rate", dropout_rate, 0, 1)
        self.seed = check_int("seed", seed)
        self.dropout = keras.layers.Dropout(dropout_rate, seed=seed)
        self.normalized_att_score = None

    def build(self, input_shape: list) -> None:
        num_fields, embedding_size = check_field_list("AFMLayer", input_shape)
        self._num_fields = num_fields
        self._rows, self._cols = field_pairs(num_fields)
        self.attention_W = self.add_weight(
            name="attention_W",
            shape=(embedding_size, self.attention_factor),
            initializer=keras.initializers.GlorotNormal(seed=self.seed),
            regularizer=keras.regularizers.L2(self.l2_reg_w) if self.l2_reg_w > 0 else None,
        )
        self.attention_b = self.add_weight(name="attention_b", shape=(self.attention_factor,), initializer="zeros")
        self.projection_h = self.add_weight(
            name="projection_h",
            shape=(self.attention_factor, 1),
            initializer=keras.initializers.GlorotNormal(seed=self.seed + 1),
        )
        self.projection_p = self.add_weight(
            name="projection_p",
            shape=(embedding_size, 1),
            initializer=keras.initializers.GlorotNormal(seed=self.seed + 2),
        )

    def _interactions_and_scores(self, inputs):
        p, q = gather_pairs(inputs, self._rows, self._cols)
        interactions = p * q  # (batch, pairs, E)
        hidden = ops.relu(ops.matmul(interactions, self.attention_W) + self.attention_b)
        scores = ops.softmax(ops.matmul(hidden, self.projection_h), axis=1)  # (batch, pairs, 1)
        return interactions, scores

    def call(self, inputs, training=None):
        interactions, scores = self._interactions_and_scores(inputs)
        self.normalized_att_score = scores
        attended = ops.sum(scores * interactions, axis=1)  # (batch, E)
        attended = self.dropout(attended, training=training)
        return ops.matmul(attended, self.projection_p)

    def attention_scores(self, inputs):
        """The attention weights ``(batch_size, N*(N-1)/2, 1)`` the layer gives
        to every pair of fields of ``inputs``.

        ``inputs`` is what the layer is called on: a list of arrays or tensors,
        or of symbolic ``keras.Input``-derived tensors (typically
        ``layer.input``), in which case the result is symbolic and can be the
        output of a ``keras.Model`` that shares this layer's weights.
        """
        return _AFMAttentionScores(self)(list(inputs))

    def compute_output_shape(self, input_shape: list) -> tuple:
        return (input_shape[0][0], 1)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "attention_factor": self.attention_factor,
                "l2_reg_w": self.l2_reg_w,
                "dropout_rate": self.dropout_rate,
                "seed": self.seed,
            }
        )
        return config


class _AFMAttentionScores(keras.layers.Layer):
    """Computes an `AFMLayer`'s attention weights with that layer's weights,
    so that a functional sub-model can output them."""

    def __init__(self, afm: AFMLayer, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.afm = afm

    def build(self, input_shape: list) -> None:
        if not self.afm.built:
            self.afm.build(input_shape)
        num_fields, _ = check_field_list("AFMLayer.attention_scores", input_shape)
        if num_fields != self.afm._num_fields:
            raise ValueError(
                f"AFMLayer.attention_scores got {num_fields} fields, but the layer was built for "
                f"{self.afm._num_fields}."
            )

    def call(self, inputs):
        return self.afm._interactions_and_scores(inputs)[1]

    def compute_output_shape(self, input_shape: list) -> tuple:
        num_fields = len(input_shape)
        return (input_shape[0][0], num_fields * (num_fields - 1) // 2, 1)
