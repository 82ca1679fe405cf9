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
    c1 = rng.integers(0, 5000, n).tolist()
    users = rng.integers(0, 120, n).tolist()
    items = rng.integers(0, 300, n).tolist()
    i1 = np.round(rng.normal(size=n), 4).tolist()
    emb = np.round(rng.normal(size=(n, 3)), 3).tolist()
    genres = rng.integers(0, 40, (n, 5)).tolist()
    hist = rng.integers(0, 50, (n, 4)).tolist()
    tags = rng.integers(0, 30, (n, 3)).tolist()
    weights = np.round(rng.uniform(0.1, 2, (n, 3)), 3).tolist()
    lengths = rng.integers(0, 6, (n, 3)).tolist()
    c2 = rng.integers(0, 50, n).tolist()
    i2 = rng.integers(0, 10, n).tolist()
    rows = []
    for i in range(n):
        g, h, t = lengths[i][0], lengths[i][1] % 5, lengths[i][2] % 4
        row = {
            "C1": f"c{c1[i]}",
            "user_id": users[i],
            "item_id": items[i],
            "I1": i1[i],
            "emb": emb[i],
            "genres": [f"g{k}" for k in genres[i][:g]],
            "hist": hist[i][:h],
            "tags": tags[i][:t],
            "tags_w": weights[i][:t],
        }
        if with_defaults:
            row["C2"] = f"x{c2[i]}"
            row["I2"] = float(i2[i])
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
def deepfm_repo(model_repo, tmp_path_factory) -> Path:
    """A repository holding only ``deepfm`` (quicker to serve)."""
    repo = tmp_path_factory.mktemp("deepfm_only")
    (repo / "deepfm").symlink_to(model_repo / "deepfm", target_is_directory=True)
    return repo


@pytest.fixture(scope="session")
def deepfm_bundle(model_repo):
    from ctrkit.export import load_bundle

    return load_bundle(model_repo / "deepfm" / "1")


@pytest.fixture(scope="session")
def live(model_repo):
    """One service on the test repository, shared by the tests that only read; every model serves."""
    from service_helpers import serve, settings, wait_until_serving

    with serve(settings(model_repo)) as server:
        wait_until_serving(server.url, [p.name for p in model_repo.iterdir() if p.is_dir()])
        yield server
