"""Bundles the bench serves: the newest trained demo version, or a Criteo-like DeepFM exported on the spot.

Example::

    version_dir = newest_version(Path("models/criteo_deepfm")) or export_criteo_deepfm(Path("/tmp/repo"))
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = ["export_criteo_deepfm", "newest_version"]


def newest_version(model_dir: Path) -> Path | None:
    """The highest numbered version directory holding a bundle under ``model_dir``, if any."""
    if not model_dir.is_dir():
        return None
    versions = [p for p in model_dir.iterdir() if p.name.isdigit() and (p / "feature_spec.json").is_file()]
    return max(versions, key=lambda p: int(p.name), default=None)


def export_criteo_deepfm(
    repo: Path,
    *,
    sparse: int = 26,
    dense: int = 13,
    embedding_dim: int = 16,
    hidden_units: Sequence[int] = (256, 256),
    hash_buckets: int = 10_000,
) -> Path:
    """Exports an untrained DeepFM over Criteo's columns (hashed strings ``C1``.., floats ``I1``..) into ``repo``.

    Scores are not meaningful; the model's shape and its serving cost are those
    of the demo bundle. Returns the version directory.
    """
    from ctrkit.export import export_model
    from ctrkit.feature_column import DenseFeat, SparseFeat
    from ctrkit.models import DeepFM

    sparse_names = [f"C{i}" for i in range(1, sparse + 1)]
    dense_names = [f"I{i}" for i in range(1, dense + 1)]
    columns = [SparseFeat(c, hash_buckets, embedding_dim, use_hash=True, dtype="string") for c in sparse_names]
    columns += [DenseFeat(d, 1) for d in dense_names]
    model = DeepFM(columns, columns, dnn_hidden_units=tuple(hidden_units))
    defaults = {**{c: "" for c in sparse_names}, **{d: 0.0 for d in dense_names}}
    return export_model(model, repo / "criteo_deepfm", columns, defaults=defaults)
