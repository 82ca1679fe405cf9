"""DSIN: Deep Session Interest Network.

Reference: Feng Y, Lv F, Shen W, et al. Deep Session Interest Network for
Click-Through Rate Prediction. IJCAI 2019. https://arxiv.org/abs/1905.06482
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from ...feature_column import DenseFeat, build_input_features
from ...inputs import create_embedding_matrix, get_dense_input
from ...layers.sequence.attention_sequence_pooling_layer import AttentionSequencePoolingLayer
from ...layers.sequence.bias_encoding import BiasEncoding
from ...layers.sequence.bilstm import BiLSTM
from ...layers.sequence.transformer import Transformer
from ...layers.utils import SequenceMask, concat_func
from ._common import check_feature_list, context_embeddings, dnn_head, padded_lookup, pick, split_columns

SESSION_LENGTH = "sess_length"


def session_feature_name(index: int, feature: str) -> str:
    """The column name of `feature` in session `index`: `sess_<index>_<feature>`."""
    return f"sess_{index}_{feature}"


def DSIN(
    dnn_feature_columns: Sequence,
    sess_feature_list: Sequence[str],
    sess_max_count: int = 5,
    bias_encoding: bool = False,
    att_embedding_size: int = 1,
    att_head_num: int = 8,
    dnn_hidden_units: Sequence[int] = (256, 128, 64),
    dnn_activation: str = "sigmoid",
    dnn_dropout: float = 0,
    dnn_use_bn: bool = False,
    l2_reg_dnn: float = 0,
    l2_reg_embedding: float = 1e-6,
    seed: int = 1024,
    task: str = "binary",
):
    """Instantiate the Deep Session Interest Network architecture.

    The behaviour sequence is cut into sessions. Within each session a
    self-attention Transformer (with DSIN's bias encoding, or position
    encodings) extracts one session interest; a bidirectional LSTM lets the
    session interests interact; both the session interests and the LSTM
    outputs are pooled by attention against the candidate item and join the
    other embeddings in a DNN.

    Feature columns: for every name `f` in `sess_feature_list`, a candidate
    `SparseFeat(f, ...)` and, for each session `i < sess_max_count`, a
    `VarLenSparseFeat` named `sess_<i>_<f>` (usually `embedding_name=f`)
    whose id 0 (or `""` for hashed strings) is padding. The model has one
    more input, `sess_length`: each row's number of non-empty sessions
    (sessions are filled from `sess_0` on). It is not a feature column, as in
    DeepCTR: `export_model` describes it from the model, given the very
    columns the model was built from (a `DenseFeat("sess_length", 1)` in
    `dnn_feature_columns` is also taken as this input, not as a DNN feature).
    Other `VarLenSparseFeat` columns are pooled with their combiner.

    Arguments:
        dnn_feature_columns: all the features the model uses.
        sess_feature_list: the candidate features that have session sequences.
        sess_max_count: number of sessions.
        bias_encoding: use DSIN's bias encoding instead of position encodings.
        att_embedding_size: size of each attention head.
        att_head_num: number of attention heads; `att_embedding_size *
            att_head_num` must equal the embedding size of the session features.
        dnn_hidden_units: units of each DNN layer (may be empty).
        dnn_activation: DNN activation.
        dnn_dropout: dropout probability in the DNN.
        dnn_use_bn: batch normalisation before each DNN activation.
        l2_reg_dnn: L2 strength on the DNN.
        l2_reg_embedding: L2 strength on the embeddings.
        seed: random seed.
        task: "binary" (sigmoid output) or "regression".

    Returns:
        A Keras model.

    Example:
        >>> import numpy as np
        >>> from ctrkit.feature_column import SparseFeat, VarLenSparseFeat
        >>> columns = [SparseFeat("item", 4, 4)] + [
        ...     VarLenSparseFeat(SparseFeat(f"sess_{i}_item", 4, 4, embedding_name="item"), maxlen=3)
        ...     for i in range(2)]
        >>> model = DSIN(columns, ["item"], sess_max_count=2, att_embedding_size=2, att_head_num=2,
        ...              dnn_hidden_units=(8,))
        >>> x = {"item": np.array([1, 3]), "sess_0_item": np.array([[1, 2, 0], [3, 0, 0]]),
        ...      "sess_1_item": np.array([[2, 0, 0], [0, 0, 0]]), "sess_length": np.array([2, 1])}
        >>> model.predict(x, verbose=0).shape
        (2, 1)
    """
    if isinstance(sess_max_count, bool) or not isinstance(sess_max_count, int) or sess_max_count < 1:
        raise ValueError(f"sess_max_count must be a positive integer, got {sess_max_count!r}")
    sess_feature_list = check_feature_list("sess_feature_list", sess_feature_list)
    sparse, dense, varlen = split_columns(dnn_feature_columns)
    query_columns = pick(sparse, sess_feature_list, "SparseFeat", "sess_feature_list")
    hist_emb_size = sum(fc.embedding_dim for fc in query_columns)
    if att_embedding_size * att_head_num != hist_emb_size:
        raise ValueError(
            "att_embedding_size * att_head_num must equal the embedding size of sess_feature_list, "
            f"got {att_embedding_size} * {att_head_num} != {hist_emb_size}"
        )
    session_columns = []
    for i in range(sess_max_count):
        names = [session_feature_name(i, f) for f in sess_feature_list]
        columns = pick(varlen, names, "VarLenSparseFeat", f"sess_feature_list (session {i})")
        for query, column in zip(query_columns, columns):
            if query.embedding_dim != column.embedding_dim:
                raise ValueError(
                    f"sess_feature_list: {column.name!r} has embedding_dim {column.embedding_dim} but "
                    f"{query.name!r} has {query.embedding_dim}; they must match"
                )
        session_columns.append(columns)
    session_names = {fc.name for columns in session_columns for fc in columns}
    other_varlen = [fc for fc in varlen if fc.name not in session_names]
    dense = [fc for fc in dense if fc.name != SESSION_LENGTH]

    features = build_input_features(dnn_feature_columns)
    if SESSION_LENGTH in features:
        length_column = next(fc for fc in dnn_feature_columns if fc.name == SESSION_LENGTH)
        if not isinstance(length_column, DenseFeat) or length_column.dimension != 1:
            raise ValueError(f"a {SESSION_LENGTH!r} column must be DenseFeat({SESSION_LENGTH!r}, 1)")
    else:
        features[SESSION_LENGTH] = keras.Input(shape=(1,), name=SESSION_LENGTH)
    sess_length = features[SESSION_LENGTH]

    embedding_dict = create_embedding_matrix(dnn_feature_columns, l2_reg_embedding, seed, prefix="")
    query_emb = concat_func(padded_lookup(embedding_dict, features, query_columns))
    dnn_input_emb_list = context_embeddings(embedding_dict, features, sparse, other_varlen, sess_feature_list)
    dense_value_list = get_dense_input(features, dense)

    sessions = [concat_func(padded_lookup(embedding_dict, features, columns), mask=True) for columns in session_columns]
    if bias_encoding:
        sessions = BiasEncoding(sess_max_count, seed=seed)(sessions)
    self_attention = Transformer(
        att_embedding_size,
        att_head_num,
        dropout_rate=0,
        use_layer_norm=False,
        use_positional_encoding=not bias_encoding,
        seed=seed,
        supports_masking=True,
        blinding=True,
    )
    session_interest = concat_func([self_attention([s, s]) for s in sessions], axis=1)

    # Unlike DeepCTR, the LSTMs skip the empty sessions past sess_length.
    session_mask = SequenceMask(sess_max_count)(sess_length)
    interest_attention = AttentionSequencePoolingLayer(att_hidden_units=(64, 16), weight_normalization=True)(
        [query_emb, session_interest, sess_length]
    )
    lstm_outputs = BiLSTM(hist_emb_size, layers=2, res_layers=0, dropout_rate=0.2)(session_interest, mask=session_mask)
    lstm_attention = AttentionSequencePoolingLayer(att_hidden_units=(64, 16), weight_normalization=True)(
        [query_emb, concat_func([lstm_outputs]), sess_length]  # concat_func drops the session mask
    )

    deep_input = concat_func([concat_func(dnn_input_emb_list), interest_attention, lstm_attention])
    return dnn_head(
        features, deep_input, dense_value_list, dnn_hidden_units, dnn_activation,
        l2_reg_dnn, dnn_dropout, dnn_use_bn, seed, task, "DSIN",
    )
