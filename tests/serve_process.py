"""Tiny exported models and ``ctrkit serve`` in a subprocess, for tests that need a real server."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from loadtest.servers import free_port, start_service, stop_service, wait_ready  # noqa: E402


def tiny_columns(with_lists: bool = True) -> list:
    """Hashed strings, integer ids, dense scalars and vectors and, optionally, padded lists."""
    from ctrkit.feature_column import DenseFeat, SparseFeat, VarLenSparseFeat

    columns = [
        SparseFeat("C1", 200, 4, use_hash=True, dtype="string"),
        SparseFeat("user_id", 50, 4),
        DenseFeat("I1", 1),
        DenseFeat("emb", 3),
    ]
    if with_lists:
        columns += [
            VarLenSparseFeat(SparseFeat("genres", 30, 4, use_hash=True, dtype="string"), maxlen=4,
                             combiner="mean", length_name="genres_len"),
            VarLenSparseFeat(SparseFeat("tags", 20, 4), maxlen=3, combiner="sum", weight_name="tags_w"),
        ]
    return columns


def export_tiny_models(repo: Path, names: Sequence[str]) -> Path:
    """Exports version 1 of a small DeepFM under each name (the first with list features)."""
    import keras

    from ctrkit.export import export_model
    from ctrkit.models import DeepFM

    for i, name in enumerate(names):
        keras.utils.set_random_seed(i)
        columns = tiny_columns(with_lists=i == 0)
        model = DeepFM(columns, columns, dnn_hidden_units=(8,), dnn_dropout=0.0)
        export_model(model, repo / name, columns, defaults={"I1": 0.0})
    return repo


def export_versions(repo: Path, name: str, count: int) -> Path:
    """Exports versions 1..``count`` of a small DeepFM without list features (other seeds, other scores)."""
    import keras

    from ctrkit.export import export_model
    from ctrkit.models import DeepFM

    columns = tiny_columns(with_lists=False)
    for seed in range(count):
        keras.utils.set_random_seed(seed)
        export_model(DeepFM(columns, columns, dnn_hidden_units=(4,)), repo / name, columns)
    return repo


@contextmanager
def served(repo: Path, log_dir: Path, extra_args: Sequence[str] = ()) -> Iterator[str]:
    """``ctrkit serve`` on a free loopback port, ready; yields its URL and always stops it."""
    port = free_port()
    log_path = log_dir / f"serve-{port}.log"
    process = start_service(repo, port, ["--poll-interval-s", "0", "--log-level", "warning", *extra_args], log_path)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, process, 120, log_path)
        yield url
    finally:
        stop_service(process)
