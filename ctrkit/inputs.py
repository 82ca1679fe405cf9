"""Embedding tables and lookups behind `input_from_feature_columns`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import keras

from .columns import DenseFeat, SparseFeat, VarLenSparseFeat
from .layers.embedding import EmbeddingTable
from .layers.utils import Hash, PaddingMask


def create_embedding_dict(
    sparse_feature_columns: Sequence[SparseFeat],
    varlen_sparse_feature_columns: Sequence[VarLenSparseFeat],
    seed: int,
    l2_reg: float,
    prefix: str = "sparse_",
    seq_mask_zero: bool = True,
) -> dict[str, keras.layers.Embedding]:
    """One `EmbeddingTable` per `embedding_name`: columns naming the same one share it.

    The table is `<prefix>_emb_<embedding_name>` (`sparse_emb_...` in a
    model), or `<prefix>_seq_emb_<embedding_name>` when only varlen columns
    use it; it masks id 0 (`seq_mask_zero`) when a varlen column uses it.
    Columns sharing a table must agree on its vocabulary_size and
    embedding_dim; its initializer and trainability are the first column's.

    `l2_reg` penalises the vectors each batch looks up, not the whole table
    (see `EmbeddingTable`), so the optimizer updates only the rows a batch
    touched.
    """
    by_table: dict[str, list] = {}
    for fc in [*sparse_feature_columns, *varlen_sparse_feature_columns]:
        by_table.setdefault(fc.embedding_name, []).append(fc)
    tables: dict[str, keras.layers.Embedding] = {}
    for embedding_name, columns in by_table.items():
        first = columns[0]
        for fc in columns[1:]:
            if (fc.vocabulary_size, fc.embedding_dim) != (first.vocabulary_size, first.embedding_dim):
                raise ValueError(
                    f"features {first.name!r} and {fc.name!r} share the embedding table {embedding_name!r} "
                    f"but disagree on its shape: vocabulary_size {first.vocabulary_size} and "
                    f"{fc.vocabulary_size}, embedding_dim {first.embedding_dim} and {fc.embedding_dim}"
                )
        sequence = [isinstance(fc, VarLenSparseFeat) for fc in columns]
        tables[embedding_name] = EmbeddingTable(
            first.vocabulary_size,
            first.embedding_dim,
            embeddings_initializer=first.embeddings_initializer,
            l2_reg=l2_reg,
            name=prefix + ("_seq_emb_" if all(sequence) else "_emb_") + embedding_name,
            mask_zero=seq_mask_zero and any(sequence),
            trainable=first.trainable,
        )
    return tables


def create_embedding_matrix(
    feature_columns: Iterable,
    l2_reg: float,
    seed: int,
    prefix: str = "",
    seq_mask_zero: bool = True,
) -> dict[str, keras.layers.Embedding]:
    feature_columns = list(feature_columns)
    sparse = [fc for fc in feature_columns if isinstance(fc, SparseFeat)]
    varlen = [fc for fc in feature_columns if isinstance(fc, VarLenSparseFeat)]
    return create_embedding_dict(sparse, varlen, seed, l2_reg, prefix=prefix + "sparse", seq_mask_zero=seq_mask_zero)


def lookup_ids(fc, raw, mask_zero: bool):
    """Raw values to table ids: hashed or looked up in the graph, or as given.

    A string feature needs `use_hash=True` or a `vocabulary_path`: an
    embedding table takes integer ids only."""
    if fc.use_hash or fc.vocabulary_path is not None:
        return Hash(fc.vocabulary_size, mask_zero=mask_zero, vocabulary_path=fc.vocabulary_path)(raw)
    if fc.dtype == "string":
        raise ValueError(
            f"feature {fc.name!r} has dtype 'string' but neither use_hash=True nor a vocabulary_path: "
            "give one of them to map its strings to ids in the model, or encode the values as integer ids"
        )
    return raw


def embedding_lookup(
    sparse_embedding_dict: dict,
    sparse_input_dict: dict,
    sparse_feature_columns: Sequence,
    return_feat_list: Sequence[str] = (),
    mask_feat_list: Sequence[str] = (),
    to_list: bool = False,
):
    """Embed each sparse column; returns `group_name -> [(batch, 1, dim), ...]`
    (or a flat list with `to_list`). `return_feat_list` restricts the columns."""
    group_embedding_dict: dict[str, list] = defaultdict(list)
    for fc in sparse_feature_columns:
        if return_feat_list and fc.name not in return_feat_list:
            continue
        ids = lookup_ids(fc, sparse_input_dict[fc.name], mask_zero=fc.name in mask_feat_list)
        group_embedding_dict[fc.group_name].append(sparse_embedding_dict[fc.embedding_name](ids))
    if to_list:
        return [emb for group in group_embedding_dict.values() for emb in group]
    return group_embedding_dict


def varlen_embedding_lookup(embedding_dict: dict, sequence_input_dict: dict, varlen_sparse_feature_columns: Sequence):
    """Embed each varlen column: `name -> (batch, maxlen, dim)`, masked where padded."""
    varlen_embedding_vec_dict = {}
    for fc in varlen_sparse_feature_columns:
        ids = lookup_ids(fc, sequence_input_dict[fc.name], mask_zero=True)
        varlen_embedding_vec_dict[fc.name] = embedding_dict[fc.embedding_name](ids)
    return varlen_embedding_vec_dict


def get_varlen_pooling_list(embedding_dict: dict, features: dict, varlen_sparse_feature_columns: Sequence, to_list: bool = False):
    """Pool each varlen column to `(batch, 1, dim)` with its combiner, weights and length."""
    from .layers.sequence.sequence_pooling_layer import SequencePoolingLayer
    from .layers.sequence.weighted_sequence_layer import WeightedSequenceLayer

    pooling_vec_list: dict[str, list] = defaultdict(list)
    for fc in varlen_sparse_feature_columns:
        seq_input = embedding_dict[fc.name]
        if fc.length_name is None:
            # The padding mask as a layer output, passed explicitly: the mask the
            # embedding attaches itself is an anonymous operation HDF5 cannot save.
            raw = features[fc.name]
            mask = PaddingMask()(lookup_ids(fc, raw, mask_zero=True) if fc.vocabulary_path else raw)
            if fc.weight_name is not None:
                seq_input = WeightedSequenceLayer(weight_normalization=fc.weight_norm, supports_masking=True)(
                    [seq_input, features[fc.weight_name]], mask=[mask, None]
                )
            vec = SequencePoolingLayer(fc.combiner, supports_masking=True)(seq_input, mask=mask)
        else:
            seq_len = features[fc.length_name]
            if fc.weight_name is not None:
                seq_input = WeightedSequenceLayer(weight_normalization=fc.weight_norm)(
                    [seq_input, seq_len, features[fc.weight_name]]
                )
            vec = SequencePoolingLayer(fc.combiner, supports_masking=False)([seq_input, seq_len])
        pooling_vec_list[fc.group_name].append(vec)
    if to_list:
        return [vec for group in pooling_vec_list.values() for vec in group]
    return pooling_vec_list


def get_dense_input(features: dict, feature_columns: Sequence) -> list:
    """The dense inputs, each through its `transform_fn` when it has one."""
    dense_input_list = []
    for fc in feature_columns:
        if not isinstance(fc, DenseFeat):
            continue
        value = features[fc.name]
        dense_input_list.append(fc.transform_fn(value) if fc.transform_fn is not None else value)
    return dense_input_list


def mergeDict(a: dict, b: dict) -> dict:
    """Merge two `group -> list` dicts, concatenating the lists of shared groups."""
    merged: dict[str, list] = defaultdict(list)
    for source in (a, b):
        for key, values in source.items():
            merged[key].extend(values)
    return merged
