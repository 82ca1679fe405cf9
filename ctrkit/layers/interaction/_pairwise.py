"""Shared by the layers that combine every pair of fields given as a list of
``(batch_size, 1, embedding_size)`` tensors (AFM, PNN's products, FiBiNET's
bilinear interaction)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from keras import ops


def check_field_list(layer_name: str, input_shape: Sequence) -> tuple[int, int]:
    """Check that the input is a list of at least two equal shapes
    ``(batch_size, 1, embedding_size)`` with a known embedding size, and
    return ``(num_fields, embedding_size)``."""
    if (
        not isinstance(input_shape, (list, tuple))
        or len(input_shape) < 2
        or not all(isinstance(s, (list, tuple)) for s in input_shape)
    ):
        raise ValueError(f"{layer_name} should be called on a list of at least 2 inputs, got {input_shape!r}.")
    shapes = [tuple(s) for s in input_shape]
    if any(len(s) != 3 or s[1] != 1 for s in shapes):
        raise ValueError(
            f"{layer_name} expects a list of 3D tensors of shape (batch_size, 1, embedding_size), got {shapes}."
        )
    if len({s[1:] for s in shapes}) > 1:
        raise ValueError(f"{layer_name} expects inputs of the same shape, got {shapes}.")
    if shapes[0][2] is None:
        raise ValueError(f"{layer_name} needs a known embedding size, got {shapes}.")
    return len(shapes), int(shapes[0][2])


def field_pairs(num_fields: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(i, j)``, ``i < j``, of every pair of fields, in the order of
    ``itertools.combinations(range(num_fields), 2)``."""
    rows, cols = np.triu_indices(num_fields, k=1)
    return rows.astype("int32"), cols.astype("int32")


def gather_pairs(inputs: Sequence, rows: np.ndarray, cols: np.ndarray):
    """Stack the field list to ``(batch, F, E)`` and return the two sides
    ``p``, ``q`` of every pair, each ``(batch, num_pairs, E)``."""
    fields = ops.concatenate(list(inputs), axis=1)
    return ops.take(fields, rows, axis=1), ops.take(fields, cols, axis=1)
