"""ONN (NFFM): operation-aware embeddings, field-aware products and a DNN.

Reference: Yang Y, Xu B, Shen F, et al. Operation-aware neural networks for
user response prediction. arXiv 2019. https://arxiv.org/pdf/1904.12579
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import keras

from ..feature_column import SparseFeat, VarLenSparseFeat, build_input_features, get_linear_logit
from ..inputs import lookup_ids, get_dense_input, get_varlen_pooling_list
from ..layers.dnn import DNN
from ..layers.embedding import EmbeddingTable
from ..layers.utils import combined_dnn_input, concat_func
from .base import binary_or_regression_model, dense_logit


def ONN(
    linear_feature_columns: Sequence,
    dnn_feature_columns: Sequence,
    dnn_hidden_units: Sequence[int] = (256, 128, 64),
    l2_reg_embedding: float = 1e-5,
    l2_reg_linear: float = 1e-5,
    l2_reg_dnn: float = 0,
    dnn_dropout: float = 0,
    seed: int = 1024,
    use_bn: bool = True,
    reduce_sum: bool = False,
    task: str = "binary",
):
    """Instantiate the Operation-aware Neural Networks architecture.

    Like FFM, every sparse feature has one embedding per other feature it
    meets; for each pair of features `(i, j)` the embedding of `i` meant for
    `j` is multiplied element-wise with the embedding of `j` meant for `i`.
    The products (optionally summed to inner products), batch normalised,
    and the dense values feed a DNN whose logit is added to the linear logit.

    Arguments:
        linear_feature_columns: the features of the linear part.
        dnn_feature_columns: the features of the deep part; its sparse and
            varlen features (at least two, of one embedding_dim) are crossed,
            its dense features join the DNN input.
        dnn_hidden_units: units of each DNN layer (may be empty).
        l2_reg_embedding, l2_reg_linear, l2_reg_dnn: L2 strengths.
        dnn_dropout: dropout probability in the DNN.
        seed: random seed.
        use_bn: batch normalise the crossed vectors.
        reduce_sum: sum each product vector to its inner product.
        task: "binary" (sigmoid output) or "regression".

    Returns:
        A Keras model.
    """
    sparse_columns = [fc for fc in dnn_feature_columns if isinstance(fc, SparseFeat)]
    sparse_columns += [fc for fc in dnn_feature_columns if isinstance(fc, VarLenSparseFeat)]
    if len(sparse_columns) < 2:
        raise ValueError(
            f"ONN needs at least 2 sparse features in dnn_feature_columns to cross, got {len(sparse_columns)}"
        )
    dims = {fc.embedding_dim for fc in sparse_columns}
    if len(dims) > 1:
        raise ValueError(
            f"ONN needs the same embedding_dim for every sparse feature of dnn_feature_columns, got {sorted(dims)}"
        )

    features = build_input_features(list(linear_feature_columns) + list(dnn_feature_columns))
    linear_logit = get_linear_logit(features, linear_feature_columns, seed=seed, prefix="linear", l2_reg=l2_reg_linear)

    ids = {
        fc.name: lookup_ids(fc, features[fc.name], mask_zero=isinstance(fc, VarLenSparseFeat))
        for fc in sparse_columns
    }
    tables: dict[tuple[str, str], keras.layers.Embedding] = {}

    def embedding(fc, other):
        """The embedding of `fc` meant for its product with `other`, `(batch, 1, dim)`."""
        key = (fc.embedding_name, other.embedding_name)
        if key not in tables:
            tables[key] = EmbeddingTable(
                fc.vocabulary_size,
                fc.embedding_dim,
                l2_reg=l2_reg_embedding,
                embeddings_initializer=fc.embeddings_initializer,
                mask_zero=isinstance(fc, VarLenSparseFeat),
                trainable=fc.trainable,
                name=f"sparse_emb_{fc.embedding_name}_{other.embedding_name}",
            )
        vectors = tables[key](ids[fc.name])
        if isinstance(fc, VarLenSparseFeat):
            return get_varlen_pooling_list({fc.name: vectors}, features, [fc], to_list=True)[0]
        return vectors

    products = []
    for fc_i, fc_j in itertools.combinations(sparse_columns, 2):
        product = keras.layers.Multiply()([embedding(fc_i, fc_j), embedding(fc_j, fc_i)])
        if reduce_sum:
            product = keras.ops.sum(product, axis=-1)
        products.append(product)

    ffm_out = keras.layers.Flatten()(concat_func(products, axis=1))
    if use_bn:
        ffm_out = keras.layers.BatchNormalization()(ffm_out)
    dnn_input = combined_dnn_input([ffm_out], get_dense_input(features, dnn_feature_columns))
    dnn_output = DNN(dnn_hidden_units, l2_reg=l2_reg_dnn, dropout_rate=dnn_dropout, seed=seed)(dnn_input)
    dnn_logit = dense_logit(dnn_output, seed)
    return binary_or_regression_model(features, [linear_logit, dnn_logit], task, "ONN")
