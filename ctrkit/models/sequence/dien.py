"""DIEN: Deep Interest Evolution Network.

Reference: Zhou G, Mou N, Fan Y, et al. Deep Interest Evolution Network for
Click-Through Rate Prediction. AAAI 2019. https://arxiv.org/abs/1809.03672
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from ...feature_column import build_input_features
from ...inputs import create_embedding_matrix, get_dense_input
from ...layers.dnn import DNN
from ...layers.sequence.attention_sequence_pooling_layer import AttentionSequencePoolingLayer
from ...layers.sequence.dynamic_gru import GRU_TYPES, DynamicGRU
from ...layers.utils import concat_func
from ._common import (
    check_feature_list,
    check_pairs,
    context_embeddings,
    dnn_head,
    history_columns,
    padded_lookup,
    pick,
    sequence_length_name,
    split_columns,
)


@keras.saving.register_keras_serializable(package="ctrkit")
class InterestExtractorLoss(keras.layers.Layer):
    """DIEN's auxiliary loss on the interest extractor GRU.

    The hidden state after behaviour `t` should tell the behaviour the user
    clicked next (`t + 1`) from a sampled one the user did not click. A small
    sigmoid network scores `[h_t, e_{t+1}]`; the loss is the log loss of the
    clicked behaviour scored 1 and the sampled one scored 0, averaged over the
    valid steps `t < length - 1`, times `alpha`.

    The loss is added (`add_loss`) only when the layer runs with
    `training=True`, so `fit` optimises it and inference never computes it.
    The layer passes the hidden states through unchanged.

    Input shape:
        A list `[states, clicked, sampled, length]`: `states`
        `(batch_size, T, units)`, `clicked` and `sampled`
        `(batch_size, T, embedding_size)`, `length` `(batch_size, 1)`.

    Output shape:
        `(batch_size, T, units)`, the states.

    Args:
        alpha: weight of the auxiliary loss.
        hidden_units: layers of the scoring network (the last one must be 1).
        seed: random seed of the scoring network.

    Example:
        >>> import numpy as np
        >>> h = np.ones((2, 4, 3), "float32"); e = np.ones((2, 4, 3), "float32")
        >>> tuple(InterestExtractorLoss()([h, e, e, np.array([[4], [2]])]).shape)
        (2, 4, 3)

    Reference:
        Zhou G, Mou N, Fan Y, et al. Deep Interest Evolution Network for
        Click-Through Rate Prediction. AAAI 2019. https://arxiv.org/abs/1809.03672
    """

    def __init__(
        self, alpha: float = 1.0, hidden_units: Sequence[int] = (100, 50, 1), seed: int = 1024, **kwargs: Any
    ) -> None:
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha < 0:
            raise ValueError(f"alpha must be a number >= 0, got {alpha!r}")
        if not hidden_units or list(hidden_units)[-1] != 1:
            raise ValueError(f"hidden_units must end with a layer of 1 unit, got {hidden_units!r}")
        super().__init__(**kwargs)
        self.alpha = float(alpha)
        self.hidden_units = tuple(hidden_units)
        self.seed = seed
        self.scorer = DNN(self.hidden_units, "sigmoid", seed=seed, name="auxiliary_net")

    def build(self, input_shape: Any) -> None:
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 4:
            raise ValueError("InterestExtractorLoss expects a list [states, clicked, sampled, length]")
        states, clicked, sampled = (tuple(s) for s in input_shape[:3])
        if len(states) != 3 or clicked != sampled or len(clicked) != 3 or states[1] != clicked[1]:
            raise ValueError(
                f"states, clicked and sampled must be (batch_size, T, dim) alike, got {states}, {clicked}, {sampled}"
            )
        self.scorer.build((None, states[1], states[-1] + clicked[-1]))

    def call(self, inputs: Any, training: Any = None) -> Any:
        states, clicked, sampled, length = inputs
        if training:
            self.add_loss(self.alpha * self._loss(states, clicked, sampled, length, training))
        return ops.copy(states)

    def _loss(self, states: Any, clicked: Any, sampled: Any, length: Any, training: Any) -> Any:
        h = states[:, :-1, :]
        positions = ops.arange(ops.shape(h)[1], dtype="int32")
        valid = positions[None, :] < ops.reshape(ops.cast(length, "int32") - 1, (-1, 1))
        valid = ops.cast(valid, h.dtype)
        epsilon = 1e-7

        def probability(next_behaviour: Any) -> Any:
            score = self.scorer(ops.concatenate([h, next_behaviour[:, 1:, :]], axis=-1), training=training)
            return ops.clip(score[..., 0], epsilon, 1 - epsilon)

        step_loss = -(ops.log(probability(clicked)) + ops.log(1.0 - probability(sampled))) * valid
        return ops.sum(step_loss) / ops.maximum(ops.sum(valid), 1.0)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return tuple(input_shape[0])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"alpha": self.alpha, "hidden_units": list(self.hidden_units), "seed": self.seed})
        return config


def interest_evolution(
    concat_behavior,
    deep_input_item,
    user_behavior_length,
    gru_type: str = "GRU",
    use_neg: bool = False,
    neg_concat_behavior=None,
    att_hidden_size: Sequence[int] = (64, 16),
    att_activation: str = "sigmoid",
    att_weight_normalization: bool = False,
    alpha: float = 1.0,
    seed: int = 1024,
):
    """DIEN's interest extractor and interest evolving layers.

    Returns the evolved interest `(batch_size, 1, embedding_size)`; with
    `use_neg`, the extractor's auxiliary loss is part of the graph (training only).
    """
    if gru_type not in GRU_TYPES:
        raise ValueError(f"gru_type must be one of {GRU_TYPES}, got {gru_type!r}")
    rnn_outputs = DynamicGRU(None, return_sequence=True, name="gru1")([concat_behavior, user_behavior_length])
    if use_neg:
        rnn_outputs = InterestExtractorLoss(alpha, seed=seed, name="auxiliary_loss")(
            [rnn_outputs, concat_behavior, neg_concat_behavior, user_behavior_length]
        )

    if gru_type == "GRU":
        rnn_outputs2 = DynamicGRU(None, return_sequence=True, name="gru2")([rnn_outputs, user_behavior_length])
        return AttentionSequencePoolingLayer(
            att_hidden_size, att_activation, weight_normalization=att_weight_normalization
        )([deep_input_item, rnn_outputs2, user_behavior_length])

    scores = AttentionSequencePoolingLayer(
        att_hidden_size, att_activation, weight_normalization=att_weight_normalization, return_score=True
    )([deep_input_item, rnn_outputs, user_behavior_length])
    scores = keras.layers.Permute((2, 1))(scores)
    if gru_type == "AIGRU":
        weighted = keras.layers.Multiply()([rnn_outputs, scores])
        return DynamicGRU(None, gru_type="GRU", return_sequence=False, name="gru2")([weighted, user_behavior_length])
    return DynamicGRU(None, gru_type=gru_type, return_sequence=False, name="gru2")(
        [rnn_outputs, user_behavior_length, scores]
    )


def DIEN(
    dnn_feature_columns: Sequence,
    history_feature_list: Sequence[str],
    gru_type: str = "GRU",
    use_negsampling: bool = False,
    alpha: float = 1.0,
    use_bn: bool = False,
    dnn_hidden_units: Sequence[int] = (256, 128, 64),
    dnn_activation: str = "relu",
    att_hidden_units: Sequence[int] = (64, 16),
    att_activation: str = "dice",
    att_weight_normalization: bool = True,
    l2_reg_dnn: float = 0,
    l2_reg_embedding: float = 1e-6,
    dnn_dropout: float = 0,
    seed: int = 1024,
    task: str = "binary",
):
    """Instantiate the Deep Interest Evolution Network architecture.

    A GRU over the behaviour sequence extracts the user's interest at each
    step (the interest extractor); a second GRU, steered by each step's
    attention score against the candidate item, follows how the interest
    relevant to the candidate evolves (the interest evolving layer,
    `gru_type`). Its final state joins the other embeddings in a DNN.

    Feature columns: as DIN's (`hist_<feature>` behaviour columns next to
    the candidate `SparseFeat`s), and the behaviour columns must have a
    `length_name` (e.g. `"seq_length"`), whose input gives each row's number
    of behaviours. With `use_negsampling=True`, each behaviour column has a
    `neg_hist_<feature>` twin holding sampled behaviours the user did not
    click; they feed the auxiliary loss, which `fit` adds to the model loss.
    Inference does not use the sampled behaviours (they remain inputs, so
    give them a default, e.g. `export_model(..., defaults={"neg_hist_item_id": []})`).

    Arguments:
        dnn_feature_columns: all the features the model uses.
        history_feature_list: the candidate features with a behaviour sequence.
        gru_type: "GRU", "AIGRU", "AGRU" or "AUGRU".
        use_negsampling: train the interest extractor with the auxiliary loss.
        alpha: weight of the auxiliary loss.
        use_bn: batch normalisation before each DNN activation.
        dnn_hidden_units: units of each DNN layer (may be empty).
        dnn_activation: DNN activation.
        att_hidden_units: units of each layer of the attention network.
        att_activation: activation of the attention network.
        att_weight_normalization: softmax-normalise the attention scores.
        l2_reg_dnn: L2 strength on the DNN.
        l2_reg_embedding: L2 strength on the embeddings.
        dnn_dropout: dropout probability in the DNN.
        seed: random seed.
        task: "binary" (sigmoid output) or "regression".

    Returns:
        A Keras model.

    Example:
        >>> import numpy as np
        >>> from ctrkit.feature_column import SparseFeat, VarLenSparseFeat
        >>> columns = [SparseFeat("item_id", 4, 4),
        ...            VarLenSparseFeat(SparseFeat("hist_item_id", 4, 4, embedding_name="item_id"),
        ...                             maxlen=3, length_name="seq_length")]
        >>> model = DIEN(columns, ["item_id"], gru_type="AUGRU", dnn_hidden_units=(8,))
        >>> x = {"item_id": np.array([1, 3]), "hist_item_id": np.array([[1, 2, 0], [3, 0, 0]]),
        ...      "seq_length": np.array([2, 1])}
        >>> model.predict(x, verbose=0).shape
        (2, 1)
    """
    if gru_type not in GRU_TYPES:
        raise ValueError(f"gru_type must be one of {GRU_TYPES}, got {gru_type!r}")
    history_feature_list = check_feature_list("history_feature_list", history_feature_list)
    sparse, dense, varlen = split_columns(dnn_feature_columns)
    query_columns = pick(sparse, history_feature_list, "SparseFeat", "history_feature_list")
    hist_columns, other_varlen = history_columns(varlen, history_feature_list, "hist_")
    check_pairs(query_columns, hist_columns, "history_feature_list")
    neg_names = ["neg_hist_" + f for f in history_feature_list]
    other_varlen = [fc for fc in other_varlen if fc.name not in neg_names]
    if use_negsampling:
        neg_columns = pick(varlen, neg_names, "VarLenSparseFeat", "use_negsampling=True")
        check_pairs(hist_columns, neg_columns, "use_negsampling=True")
    length_name = sequence_length_name(hist_columns, "DIEN")
    if length_name is None:
        raise ValueError(
            "DIEN: the behaviour columns need a length_name (e.g. VarLenSparseFeat(..., length_name='seq_length'))"
        )

    features = build_input_features(dnn_feature_columns)
    user_behavior_length = features[length_name]
    # Masked tables (unlike DeepCTR's DIEN) so that other varlen columns
    # without a length_name still pool over their non-padding ids.
    embedding_dict = create_embedding_matrix(dnn_feature_columns, l2_reg_embedding, seed, prefix="")
    query_emb_list = padded_lookup(embedding_dict, features, query_columns)
    keys_emb_list = padded_lookup(embedding_dict, features, hist_columns)
    dnn_input_emb_list = context_embeddings(embedding_dict, features, sparse, other_varlen, history_feature_list)
    dense_value_list = get_dense_input(features, dense)
    neg_concat_behavior = None
    if use_negsampling:
        neg_concat_behavior = concat_func(padded_lookup(embedding_dict, features, neg_columns))

    hist = interest_evolution(
        concat_func(keys_emb_list),
        concat_func(query_emb_list),
        user_behavior_length,
        gru_type=gru_type,
        use_neg=use_negsampling,
        neg_concat_behavior=neg_concat_behavior,
        att_hidden_size=att_hidden_units,
        att_activation=att_activation,
        att_weight_normalization=att_weight_normalization,
        alpha=alpha,
        seed=seed,
    )
    deep_input = concat_func([concat_func(dnn_input_emb_list), hist])
    return dnn_head(
        features, deep_input, dense_value_list, dnn_hidden_units, dnn_activation,
        l2_reg_dnn, dnn_dropout, use_bn, seed, task, "DIEN",
    )
