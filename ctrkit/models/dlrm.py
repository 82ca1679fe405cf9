"""DLRM: a bottom MLP over the dense features, pairwise dot products between
its output and the sparse embeddings, and a top MLP.

Not part of DeepCTR; its arguments follow DeepCTR's conventions.

Reference: Naumov M, Mudigere D, Shi H M, et al. Deep learning recommendation
model for personalization and recommendation systems. 2019.
https://arxiv.org/abs/1906.00091
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from ..feature_column import SparseFeat, VarLenSparseFeat, build_input_features, input_from_feature_columns
from ..layers.dnn import DNN
from ..layers.interaction.dot_interaction import DotInteraction
from ..layers.utils import NoMask, concat_func
from .base import binary_or_regression_model, dense_logit


def _check_units(name: str, units: Sequence[int]) -> list[int]:
    if isinstance(units, (str, bytes)) or not isinstance(units, Sequence) or any(
        isinstance(u, bool) or not isinstance(u, int) or u < 1 for u in units
    ):
        raise ValueError(f"`{name}` must be a list of positive integers, got {units!r}.")
    return list(units)


def _common_embedding_dim(feature_columns: Sequence) -> int:
    dims = {fc.name: fc.embedding_dim for fc in feature_columns if isinstance(fc, (SparseFeat, VarLenSparseFeat))}
    if not dims:
        raise ValueError("DLRM needs at least one SparseFeat or VarLenSparseFeat in `dnn_feature_columns`.")
    if len(set(dims.values())) > 1:
        raise ValueError(
            "DLRM needs one embedding_dim for every sparse feature (their embeddings are dotted with each "
            f"other and with the bottom MLP output), got {dims}."
        )
    return next(iter(dims.values()))


def DLRM(
    dnn_feature_columns: Sequence,
    bottom_dnn_hidden_units: Sequence[int] = (64, 32),
    top_dnn_hidden_units: Sequence[int] = (64, 32),
    self_interaction: bool = False,
    l2_reg_embedding: float = 1e-5,
    l2_reg_dnn: float = 0,
    seed: int = 1024,
    dnn_dropout: float = 0,
    dnn_activation: str = "relu",
    dnn_use_bn: bool = False,
    task: str = "binary",
):
    """Instantiate the Deep Learning Recommendation Model architecture.

    The dense values are concatenated and go through the bottom MLP: the
    layers of `bottom_dnn_hidden_units`, then an output layer as wide as the
    embeddings (`E`), so its output can be dotted with them. `DotInteraction`
    takes the dot products of every pair among [bottom output, sparse
    embedding 1, ..., sparse embedding S]; they are concatenated with the
    bottom output and go through the top MLP to the logit. Without dense
    features there is no bottom MLP and the top MLP sees the dot products of
    the sparse embeddings alone.

    Every sparse (and varlen) feature must have the same `embedding_dim`.

    Arguments:
        dnn_feature_columns: the features of the model.
        bottom_dnn_hidden_units: hidden layers of the bottom MLP, before its
            output layer of width `E` (may be empty).
        top_dnn_hidden_units: layers of the top MLP (may be empty).
        self_interaction: also take each vector's dot product with itself.
        l2_reg_embedding: L2 strength of the embeddings.
        l2_reg_dnn: L2 strength of both MLPs.
        seed: random seed.
        dnn_dropout: dropout probability in both MLPs.
        dnn_activation: activation of both MLPs.
        dnn_use_bn: batch normalisation before each activation of both MLPs.
        task: "binary" (sigmoid output) or "regression".

    Returns:
        A Keras model.

    Example:
        >>> from ctrkit.feature_column import DenseFeat, SparseFeat
        >>> columns = [SparseFeat("user", 100, 8), SparseFeat("item", 50, 8), DenseFeat("price")]
        >>> model = DLRM(columns, bottom_dnn_hidden_units=(16,), top_dnn_hidden_units=(16,))
        >>> model.output_shape
        (None, 1)
    """
    bottom_units = _check_units("bottom_dnn_hidden_units", bottom_dnn_hidden_units)
    top_units = _check_units("top_dnn_hidden_units", top_dnn_hidden_units)
    embedding_dim = _common_embedding_dim(dnn_feature_columns)
    features = build_input_features(dnn_feature_columns)
    sparse_embedding_list, dense_value_list = input_from_feature_columns(
        features, dnn_feature_columns, l2_reg_embedding, seed
    )
    vectors = [keras.layers.Flatten()(NoMask()(emb)) for emb in sparse_embedding_list]
    bottom_output = None
    if dense_value_list:
        bottom_output = DNN(
            bottom_units + [embedding_dim], dnn_activation, l2_reg_dnn, dnn_dropout, dnn_use_bn, seed=seed
        )(concat_func(dense_value_list))
        vectors.insert(0, bottom_output)
    if len(vectors) < 2:
        raise ValueError(
            "DLRM needs at least two vectors to interact: give two sparse features, or a sparse and a dense one."
        )
    interactions = DotInteraction(self_interaction=self_interaction)(vectors)
    top_input = interactions if bottom_output is None else concat_func([bottom_output, interactions])
    top_output = DNN(top_units, dnn_activation, l2_reg_dnn, dnn_dropout, dnn_use_bn, seed=seed)(top_input)
    return binary_or_regression_model(features, [dense_logit(top_output, seed)], task, "DLRM")
