"""DIN: Deep Interest Network.

Reference: Zhou G, Zhu X, Song C, et al. Deep interest network for
click-through rate prediction. KDD 2018. https://arxiv.org/abs/1706.06978
"""

from __future__ import annotations

from collections.abc import Sequence

from ...feature_column import build_input_features
from ...inputs import create_embedding_matrix, get_dense_input
from ...layers.sequence.attention_sequence_pooling_layer import AttentionSequencePoolingLayer
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


def DIN(
    dnn_feature_columns: Sequence,
    history_feature_list: Sequence[str],
    dnn_use_bn: bool = False,
    dnn_hidden_units: Sequence[int] = (256, 128, 64),
    dnn_activation: str = "relu",
    att_hidden_size: Sequence[int] = (80, 40),
    att_activation: str = "dice",
    att_weight_normalization: bool = False,
    l2_reg_dnn: float = 0,
    l2_reg_embedding: float = 1e-6,
    dnn_dropout: float = 0,
    seed: int = 1024,
    task: str = "binary",
):
    """Instantiate the Deep Interest Network architecture.

    The user's behaviours (the `hist_<feature>` sequences) are pooled with
    weights a local activation unit gives each behaviour against the candidate
    item, so the user representation depends on the candidate. It is
    concatenated with the other embeddings and dense values and fed to a DNN.

    Feature columns: for every name `f` in `history_feature_list` there is a
    `SparseFeat(f, ...)` (the candidate) and a `VarLenSparseFeat` named
    `hist_f` (the behaviours, usually `embedding_name=f` so both share one
    table). When the behaviour columns have a `length_name`, that input marks
    the valid behaviours; otherwise id 0 (or `""` for hashed strings) is
    padding. Other `VarLenSparseFeat` columns are pooled with their combiner.

    Arguments:
        dnn_feature_columns: all the features the model uses.
        history_feature_list: the candidate features that have a behaviour
            sequence `hist_<name>`.
        dnn_use_bn: batch normalisation before each DNN activation.
        dnn_hidden_units: units of each DNN layer (may be empty).
        dnn_activation: DNN activation.
        att_hidden_size: units of each layer of the attention network.
        att_activation: activation of the attention network ("dice" by default).
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
        >>> columns = [SparseFeat("user", 3, 4), SparseFeat("item_id", 4, 4),
        ...            VarLenSparseFeat(SparseFeat("hist_item_id", 4, 4, embedding_name="item_id"),
        ...                             maxlen=3, length_name="seq_length")]
        >>> model = DIN(columns, ["item_id"], dnn_hidden_units=(8,), att_hidden_size=(8,))
        >>> x = {"user": np.array([0, 1]), "item_id": np.array([1, 3]),
        ...      "hist_item_id": np.array([[1, 2, 0], [3, 0, 0]]), "seq_length": np.array([2, 1])}
        >>> model.predict(x, verbose=0).shape
        (2, 1)
    """
    history_feature_list = check_feature_list("history_feature_list", history_feature_list)
    sparse, dense, varlen = split_columns(dnn_feature_columns)
    query_columns = pick(sparse, history_feature_list, "SparseFeat", "history_feature_list")
    hist_columns, other_varlen = history_columns(varlen, history_feature_list, "hist_")
    check_pairs(query_columns, hist_columns, "history_feature_list")
    length_name = sequence_length_name(hist_columns, "DIN")

    features = build_input_features(dnn_feature_columns)
    embedding_dict = create_embedding_matrix(dnn_feature_columns, l2_reg_embedding, seed, prefix="")
    query_emb_list = padded_lookup(embedding_dict, features, query_columns)
    keys_emb_list = padded_lookup(embedding_dict, features, hist_columns)
    dnn_input_emb_list = context_embeddings(embedding_dict, features, sparse, other_varlen, history_feature_list)
    dense_value_list = get_dense_input(features, dense)

    if length_name is None:
        attention = AttentionSequencePoolingLayer(
            att_hidden_size, att_activation, weight_normalization=att_weight_normalization, supports_masking=True
        )
        hist = attention([concat_func(query_emb_list, mask=True), concat_func(keys_emb_list, mask=True)])
    else:
        attention = AttentionSequencePoolingLayer(
            att_hidden_size, att_activation, weight_normalization=att_weight_normalization
        )
        hist = attention([concat_func(query_emb_list), concat_func(keys_emb_list), features[length_name]])

    deep_input = concat_func([concat_func(dnn_input_emb_list), hist])
    return dnn_head(
        features, deep_input, dense_value_list, dnn_hidden_units, dnn_activation,
        l2_reg_dnn, dnn_dropout, dnn_use_bn, seed, task, "DIN",
    )
