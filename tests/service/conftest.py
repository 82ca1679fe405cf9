"""Fixtures of the service tests: small exported models and rows for them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DEFAULTS = {"C2": "", "I2": 0.0}


def feature_columns():
    from ctrkit.feature_column import DenseFeat, SparseFeat, VarLenSparseFeat

    return [
        SparseFeat("C1", 1000, 4, use_hash=True, dtype="string"),
        SparseFeat("C2", 500, 4, use_hash=True, dtype="string"),
        SparseFeat("user_id", 120, 4),
        SparseFeat("item_id", 300, 4, dtype="int64"),
        DenseFeat("I1", 1),
        DenseFeat("I2", 1),
        DenseFeat("emb", 3),
        VarLenSparseFeat(SparseFeat("genres", 100, 4, use_hash=True, dtype="string"), maxlen=5, combiner="mean"),
        VarLenSparseFeat(SparseFeat("hist", 50, 4), maxlen=4, combiner="mean", length_name="hist_len"),
        VarLenSparseFeat(SparseFeat("tags", 30, 4), maxlen=3, combiner="sum", weight_name="tags_w"),
    ]


def make_rows(rng: np.random.Generator, n: int, with_defaults: bool = True) -> list[dict[str, Any]]:
    """Valid rows for the test DeepFM; without ``with_defaults`` C2 and I2 are left out."""
    rows = []
    for _ in range(n):
        hist = rng.integers(0, 50, rng.integers(0, 5)).tolist()
        tags = rng.integers(0, 30, rng.integers(0, 4)).tolist()
        row = {
            "C1": f"c{rng.integers(0, 5000)}",
            "user_id": int(rng.integers(0, 120)),
            "item_id": int(rng.integers(0, 300)),
            "I1": float(np.round(rng.normal(), 4)),
            "emb": np.round(rng.normal(size=3), 3).tolist(),
            "genres": [f"g{k}" for k in rng.integers(0, 40, rng.integers(0, 6))],
            "hist": hist,
            "tags": tags,
            "tags_w": np.round(rng.uniform(0.1, 2, len(tags)), 3).tolist(),
        }
        if with_defaults:
            row["C2"] = f"x{rng.integers(0, 50)}"
            row["I2"] = float(rng.integers(0, 10))
        rows.append(row)
    return rows


def reference_columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """What the bundle's own predict takes for these rows (defaults and lengths filled in)."""
    names = ["C1", "C2", "user_id", "item_id", "I1", "I2", "emb", "genres", "hist", "tags", "tags_w"]
    cols = {name: [row.get(name, DEFAULTS.get(name)) for row in rows] for name in names}
    cols["hist_len"] = [len(row["hist"]) for row in rows]
    return cols


@pytest.fixture(scope="session")
def model_repo(tmp_path_factory) -> Path:
    """A repository with ``deepfm`` version 1 (and ``mmoe`` version 1 when MMOE exists)."""
    import keras

    from ctrkit.export import export_model
    from ctrkit.models import DeepFM

    keras.utils.set_random_seed(7)
    repo = tmp_path_factory.mktemp("models")
    fcs = feature_columns()
    model = DeepFM(fcs, fcs, dnn_hidden_units=(16, 8))
    export_model(model, repo / "deepfm", fcs, defaults=DEFAULTS)
    try:
        from ctrkit.models import MMOE
    except (ImportError, AttributeError):
        MMOE = None
    if MMOE is not None:
        mt = MMOE(fcs, num_experts=2, expert_dnn_hidden_units=(8,), tower_dnn_hidden_units=(4,),
                  task_types=("binary", "binary"), task_names=("ctr", "cvr"))
        export_model(mt, repo / "mmoe", fcs, defaults=DEFAULTS)
    return repo


@pytest.fixture(scope="session")
def deepfm_bundle(model_repo):
    from ctrkit.export import load_bundle

    return load_bundle(model_repo / "deepfm" / "1")


@pytest.fixture(scope="session")
def live(model_repo):
    """One service on the test repository, shared by the tests that only read."""
    from service_helpers import serve, settings

    with serve(settings(model_repo)) as server:
        yield server
