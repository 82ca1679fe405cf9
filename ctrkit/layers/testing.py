"""Helpers shared by the layer tests: serialisation round trips."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence

import keras
import numpy as np


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def assert_config_roundtrip(layer: keras.layers.Layer) -> None:
    """`from_config(get_config())` rebuilds a layer with the same config."""
    config = layer.get_config()
    clone = layer.__class__.from_config(config)
    assert clone.get_config() == config, (clone.get_config(), config)


def assert_saved_model_roundtrip(
    layer: keras.layers.Layer,
    inputs: np.ndarray | Sequence[np.ndarray],
    atol: float = 1e-6,
) -> np.ndarray:
    """Wrap `layer` in a functional model, save it as `.keras`, reload it and
    check that the reloaded model computes the same outputs. Returns them."""
    arrays = _as_list(inputs)
    symbolic = [keras.Input(shape=a.shape[1:], dtype=str(a.dtype)) for a in arrays]
    out = layer(symbolic if isinstance(inputs, (list, tuple)) else symbolic[0])
    model = keras.Model(symbolic, out)
    expected = model.predict(arrays, verbose=0)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "layer.keras")
        model.save(path)
        reloaded = keras.models.load_model(path)
    actual = reloaded.predict(arrays, verbose=0)
    for e, a in zip(_as_list(expected), _as_list(actual)):
        np.testing.assert_allclose(a, e, atol=atol, rtol=1e-5)
    return expected
