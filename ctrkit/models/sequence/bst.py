"""BST: Behavior Sequence Transformer.

Reference: Chen Q, Zhao H, Li W, Huang P, Ou W. Behavior sequence transformer
for e-commerce recommendation in Alibaba. DLP-KDD 2019.
https://arxiv.org/abs/1905.06874
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from ...feature_column import build_input_features
from ...inputs import create_embedding_matrix, get_dense_input
from ...layers.sequence.attention_sequence_pooling_layer import AttentionSequencePoolingLayer
from ...layers.sequence.transformer import Transformer
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


def BST(
    dnn_feature_columns: Sequence,
    history_feature_list: Sequence[str],
    transformer_num: int = 1,
    att_head_num: int = 8,
    use_bn: bool = False,
    dnn_hidden_units: Sequence[int] = (256, 128, 64),
    dnn_activation: str = "relu",
    l2_reg_dnn: float = 0,
    l2_reg_embedding: float = 1e-6,
    dnn_dropout: float = 0.0,
    seed: int = 1024,
    task: str = "binary",
    attention_type: str = "scaled_dot_product",
):
    """Instantiate the Behavior Sequence Transformer architecture.

    As in the paper, the candidate item joins the user's behaviour sequence
    (at position 0, ahead of the behaviours) and `transformer_num` Transformer
    blocks (multi-head self-attention with position encodings, residual
    connections, layer normalisation and a feed-forward network) run over it,
    so every behaviour can attend to the candidate and to each other. The
    outputs are pooled by attention against the candidate and join the other
    embeddings in a DNN.

    Feature columns: as DIN's (`hist_<feature>` behaviour columns next to the
    candidate `SparseFeat`s); the behaviour columns must have a `length_name`
    (e.g. `"seq_length"`). The concatenated embedding size of the features in
    `history_feature_list` must be divisible by `att_head_num`.

    Arguments:
        dnn_feature_columns: all the features the model uses.
        history_feature_list: the candidate features with a behaviour sequence.
        transformer_num: number of Transformer blocks.
        att_head_num: number of attention heads.
        use_bn: batch normalisation before each DNN activation.
        dnn_hidden_units: units of each DNN layer (may be empty).
        dnn_activation: DNN activation.
        l2_reg_dnn: L2 strength on the DNN.
        l2_reg_embedding: L2 strength on the embeddings.
        dnn_dropout: dropout probability in the DNN and the Transformer.
        seed: random seed.
        task: "binary" (sigmoid output) or "regression".
        attention_type: the Transformer's attention scores:
            "scaled_dot_product" (the paper's), "cos", "ln" or "additive"
            (see `ctrkit.layers.Transformer`).

    Returns:
        A Keras model.

    Example:
        >>> import numpy as np
        >>> from ctrkit.feature_column import SparseFeat, VarLenSparseFeat
        >>> columns = [SparseFeat("item_id", 4, 8),
        ...            VarLenSparseFeat(SparseFeat("hist_item_id", 4, 8, embedding_name="item_id"),
        ...                             maxlen=3, length_name="seq_length")]
        >>> model = BST(columns, ["item_id"], att_head_num=2, dnn_hidden_units=(8,))
        >>> x = {"item_id": np.array([1, 3]), "hist_item_id": np.array([[1, 2, 0], [3, 0, 0]]),
        ...      "seq_length": np.array([2, 1])}
        >>> model.predict(x, verbose=0).shape
        (2, 1)
    """
    if isinstance(transformer_num, bool) or not isinstance(transformer_num, int) or transformer_num < 1:
        raise ValueError(f"transformer_num must be a positive integer, got {transformer_num!r}")
    if isinstance(att_head_num, bool) or not isinstance(att_head_num, int) or att_head_num < 1:
        raise ValueError(f"att_head_num must be a positive integer, got {att_head_num!r}")
    history_feature_list = check_feature_list("history_feature_list", history_feature_list)
    sparse, dense, varlen = split_columns(dnn_feature_columns)
    query_columns = pick(sparse, history_feature_list, "SparseFeat", "history_feature_list")
    hist_columns, other_varlen = history_columns(varlen, history_feature_list, "hist_")
    check_pairs(query_columns, hist_columns, "history_feature_list")
    embedding_size = sum(fc.embedding_dim for fc in query_columns)
    if embedding_size % att_head_num:
        raise ValueError(
            f"att_head_num ({att_head_num}) must divide the behaviour embedding size "
            f"({embedding_size}, the embedding_dim sum of {history_feature_list})"
        )
    length_name = sequence_length_name(hist_columns, "BST")
    if length_name is None:
        raise ValueError(
            "BST: the behaviour columns need a length_name (e.g. VarLenSparseFeat(..., length_name='seq_length'))"
        )

    features = build_input_features(dnn_feature_columns)
    embedding_dict = create_embedding_matrix(dnn_feature_columns, l2_reg_embedding, seed, prefix="")
    query_emb = concat_func(padded_lookup(embedding_dict, features, query_columns))
    hist_emb = concat_func(padded_lookup(embedding_dict, features, hist_columns))
    dnn_input_emb_list = context_embeddings(embedding_dict, features, sparse, other_varlen, history_feature_list)
    dense_value_list = get_dense_input(features, dense)

    sequence = keras.layers.Concatenate(axis=1)([query_emb, hist_emb])
    sequence_length = keras.layers.Rescaling(1.0, offset=1.0)(features[length_name])  # the candidate joins
    for _ in range(transformer_num):
        sequence = Transformer(
            att_embedding_size=embedding_size // att_head_num,
            head_num=att_head_num,
            dropout_rate=dnn_dropout,
            use_positional_encoding=True,
            use_res=True,
            use_feed_forward=True,
            use_layer_norm=True,
            blinding=False,
            seed=seed,
            supports_masking=False,
            attention_type=attention_type,
            output_type=None,
        )([sequence, sequence, sequence_length, sequence_length])
    interest = AttentionSequencePoolingLayer(att_hidden_units=(64, 16), weight_normalization=True)(
        [query_emb, sequence, sequence_length]
    )
    deep_input = concat_func([concat_func(dnn_input_emb_list), interest])
    return dnn_head(
        features, deep_input, dense_value_list, dnn_hidden_units, dnn_activation,
        l2_reg_dnn, dnn_dropout, use_bn, seed, task, "BST",
    )
