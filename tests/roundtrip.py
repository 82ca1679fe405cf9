"""The round trip every model in the zoo must pass, and a Criteo-like feature set."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from ctrkit.export import export_model, load_bundle
from ctrkit.feature_column import DenseFeat, SparseFeat, get_feature_names
from ctrkit.layers import custom_objects

N_HASHED, N_IDS, N_DENSE = 4, 2, 3


def criteo_like_columns(embedding_dim: int = 4, group_names: Sequence[str] | None = None) -> list:
    """Hashed string categoricals, integer-id categoricals and dense counts.
    With `group_names`, the sparse columns are spread over those groups."""
    columns = []
    sparse = [
        *(SparseFeat(f"C{i}", 1000, embedding_dim, use_hash=True, dtype="string") for i in range(1, N_HASHED + 1)),
        *(SparseFeat(f"id{i}", 50, embedding_dim) for i in range(1, N_IDS + 1)),
    ]
    for i, fc in enumerate(sparse):
        if group_names:
            fc = fc._replace(group_name=group_names[i % len(group_names)])
        columns.append(fc)
    columns += [DenseFeat(f"I{i}", 1) for i in range(1, N_DENSE + 1)]
    return columns


def criteo_like_rows(n: int, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Rows for `criteo_like_columns` with labels that depend on them."""
    rng = np.random.default_rng(seed)
    x: dict[str, np.ndarray] = {}
    logit = np.zeros(n)
    for i in range(1, N_HASHED + 1):
        codes = rng.zipf(1.5, n) % 200
        x[f"C{i}"] = np.array([f"{c:08x}" for c in codes], dtype=object)
        logit += np.where(codes % 3 == 0, 0.8, -0.3)
    for i in range(1, N_IDS + 1):
        x[f"id{i}"] = rng.integers(0, 50, n).astype("int32")
        logit += np.where(x[f"id{i}"] < 10, 0.7, 0.0)
    for i in range(1, N_DENSE + 1):
        x[f"I{i}"] = rng.random(n).astype("float32")
        logit += x[f"I{i}"] - 0.5
    y = (rng.random(n) < 1 / (1 + np.exp(-(logit - 0.5)))).astype("float32")
    return x, y


def _outputs(model: keras.Model, x: dict) -> list[np.ndarray]:
    """The model's outputs on `x` from an eager call (no `predict` tracing)."""
    strings = {t.name for t in model.inputs if t.dtype == "string"}
    tensors = {k: tf.constant(np.asarray(v).astype(str).astype(object) if k in strings else v) for k, v in x.items()}
    out = model(tensors, training=False)
    return [np.asarray(o).reshape(-1) for o in (out if isinstance(out, (list, tuple)) else [out])]


def assert_hdf5_roundtrip(model, other, x, expected, tmp_path: Path, atol: float) -> None:
    """DeepCTR's HDF5 habits: `save_model(model, "m.h5")` reloaded by
    `load_model` with DeepCTR's `custom_objects` and without, and
    `save_weights("m_w.h5")` loaded into `other` (a model of the same
    architecture, its weights scrambled first)."""
    path = os.path.join(tmp_path, "model.h5")
    keras.saving.save_model(model, path)
    with_objects = keras.models.load_model(path, custom_objects)
    assert type(with_objects) is type(model)
    for e, a in zip(expected, _outputs(with_objects, x)):
        np.testing.assert_allclose(a, e, atol=atol, rtol=0)
    plain = keras.models.load_model(path)
    assert plain.get_config() == with_objects.get_config()
    for a, b in zip(plain.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)

    weights = os.path.join(tmp_path, "model_w.h5")
    model.save_weights(weights)
    rng = np.random.default_rng(0)
    other.set_weights([rng.normal(size=w.shape).astype(w.dtype) for w in other.get_weights()])
    other.load_weights(weights)
    again = other.predict(x, batch_size=256, verbose=0)
    for e, a in zip(expected, [np.asarray(a).reshape(-1) for a in (again if isinstance(again, list) else [again])]):
        np.testing.assert_allclose(a, e, atol=atol, rtol=0)


def assert_model_roundtrip(
    model: keras.Model,
    x: dict[str, np.ndarray],
    y: np.ndarray | dict | list,
    feature_columns: Sequence,
    tmp_path: Path,
    loss: str | list = "binary_crossentropy",
    atol: float = 1e-5,
) -> None:
    """fit one epoch, predict, `.keras` save/reload, DeepCTR's HDF5 files
    (`save_model`/`load_model` with and without `custom_objects`,
    `save_weights("x.h5")`/`load_weights`), export a bundle and load it with
    `tf.saved_model.load` and `load_bundle`: the scores agree everywhere."""
    model.compile("adam", loss)
    history = model.fit(x, y, batch_size=64, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])

    expected = model.predict(x, batch_size=256, verbose=0)
    expected = [np.asarray(e).reshape(-1) for e in (expected if isinstance(expected, list) else [expected])]
    assert all(np.isfinite(e).all() for e in expected)

    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    reloaded = keras.models.load_model(path)
    again = reloaded.predict(x, batch_size=256, verbose=0)
    again = [np.asarray(e).reshape(-1) for e in (again if isinstance(again, list) else [again])]
    for e, a in zip(expected, again):
        np.testing.assert_allclose(a, e, atol=atol, rtol=0)
    assert_hdf5_roundtrip(model, reloaded, x, expected, tmp_path, atol)

    version_dir = export_model(model, tmp_path / "repository", feature_columns)
    assert version_dir.name == "1"
    bundle = load_bundle(version_dir)
    # The columns' features, and any input the model creates itself (DSIN's sess_length), described by the spec.
    names = [entry["name"] for entry in bundle.spec["features"]]
    assert set(get_feature_names(feature_columns)) <= set(names)
    scores = bundle.predict({name: x[name] for name in names})
    assert list(scores) == bundle.output_names
    for e, name in zip(expected, bundle.output_names):
        np.testing.assert_allclose(scores[name], e, atol=atol, rtol=0)

    # bundle.saved_model is what tf.saved_model.load returned: call its raw signature as TF users would
    raw = bundle.saved_model.signatures["serving_default"](**bundle.to_tensors({name: x[name] for name in names}))
    for e, name in zip(expected, bundle.output_names):
        np.testing.assert_allclose(raw[name].numpy(), e, atol=atol, rtol=0)


