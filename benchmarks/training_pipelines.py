"""DeepFM training rows/s by input pipeline, and with one and two workers.

    python benchmarks/training_pipelines.py [--rows 100000] [--batch-size 1024]

Writes Criteo-like rows (`ctrkit.data.criteo.make_criteo`) to a temporary
directory as CSV, Parquet and TFRecord files (4 files each), then, each in a
fresh process:

* reads every pipeline once without a model (rows/s of the input alone);
* trains the demo DeepFM (26 hashed sparse features, embedding 8, 13 log1p
  counts, MLP 256-128, Adam) with `ctrkit.training.Trainer` for one epoch from
  in-memory arrays, CSV, Parquet and TFRecord;
* trains from the TFRecord files with two worker processes on loopback
  (`TF_CONFIG`, `MultiWorkerMirroredStrategy`), each reading its shard.

Input figures start at the first batch; training figures exclude a
warm-up call (tracing) and the first step of the timed epoch (pipeline start,
on two workers the collectives' first handshake). On one machine the
two workers share its cores, so the two-worker figure shows the cost of the
all-reduce, not a speed-up; across machines each worker brings its own.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SOURCES = ("arrays", "csv", "parquet", "tfrecord")
FILES = 4
WARMUP_STEPS = 5


def _columns():
    from ctrkit.data.criteo import CRITEO_DENSE_FEATURES, CRITEO_SPARSE_FEATURES
    from ctrkit.feature_column import DenseFeat, SparseFeat
    from ctrkit.layers.transforms import Log1p

    sparse = [SparseFeat(name, 20_000, 8, use_hash=True, dtype="string") for name in CRITEO_SPARSE_FEATURES]
    return sparse + [DenseFeat(name, transform_fn=Log1p(name=f"log1p_{name}")) for name in CRITEO_DENSE_FEATURES]


def write_data(directory: Path, rows: int) -> None:
    import numpy as np

    from ctrkit.data.criteo import make_criteo
    from ctrkit.data.pipelines import write_tfrecord

    frame = make_criteo(rows, seed=0).frame
    frame.to_parquet(directory / "arrays.parquet")
    columns = _columns()
    for i, part in enumerate(np.array_split(np.arange(rows), FILES)):
        chunk = frame.iloc[part]
        chunk.to_csv(directory / f"part-{i}.csv", index=False)
        chunk.to_parquet(directory / f"part-{i}.parquet", row_group_size=16_384)
        write_tfrecord(chunk, str(directory / f"part-{i}.tfrecord"), columns)


def _input_fn(source: str, directory: Path, batch_size: int):
    columns = _columns()
    if source == "arrays":
        import pandas as pd

        from ctrkit.data.frame_inputs import model_input
        from ctrkit.data.pipelines import array_dataset

        frame = pd.read_parquet(directory / "arrays.parquet")
        x, y = model_input(frame, columns), frame["label"].to_numpy("float32")

        def arrays(input_context=None):
            return array_dataset(x, y, batch_size=batch_size, shuffle=True, seed=0, input_context=input_context)

        return arrays

    from ctrkit.data.pipelines import make_dataset

    pattern = str(directory / f"part-*.{source}")

    def files(input_context=None):
        return make_dataset(
            source, pattern, columns, "label", batch_size=batch_size, shuffle_buffer=10_000, seed=0,
            input_context=input_context,
        )

    return files


class _StepClock:
    """Rows/s over a training call's steps after its first (which waits for the
    input pipeline to start and, on several workers, for the collectives)."""

    def __init__(self):
        self.first = self.last = None
        self.rows = 0

    def on_train_batch_end(self, step, logs):
        now = time.perf_counter()
        if self.first is None:
            self.first = now
        else:
            self.rows += logs["rows"]
        self.last = now

    @property
    def rows_per_second(self) -> float:
        return self.rows / (self.last - self.first) if self.rows else float("nan")


def run(source: str, directory: Path, batch_size: int, read: bool) -> dict:
    """One measurement, in this process (started fresh by `main`)."""
    from ctrkit.training.distribute import strategy_from_environment

    strategy = strategy_from_environment()

    import keras

    from ctrkit.models import DeepFM
    from ctrkit.training import Trainer

    input_fn = _input_fn(source, directory, batch_size)
    report: dict = {"source": source}
    if read:
        batches = iter(input_fn())
        next(batches)
        started, rows = time.perf_counter(), 0
        for _, label in batches:
            rows += int(label.shape[0])
        report["read_rows_per_s"] = rows / (time.perf_counter() - started)
    columns = _columns()
    trainer = Trainer(
        lambda: DeepFM(columns, columns, dnn_hidden_units=(256, 128), l2_reg_embedding=1e-6),
        lambda: keras.optimizers.Adam(1e-3),
        strategy=strategy,
        seed=0,
        log_step_count_steps=None,
    )
    trainer.train(input_fn, steps=WARMUP_STEPS)
    clock = _StepClock()
    result = trainer.train(input_fn, hooks=[clock])
    report.update(train_rows=result.rows, train_seconds=result.seconds, train_rows_per_s=clock.rows_per_second)
    return report


def _spawn(args: list[str], tf_config: dict | None = None) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return subprocess.Popen([sys.executable, __file__, *args], env=env, stdout=subprocess.PIPE, text=True)


def _result(process: subprocess.Popen) -> dict:
    stdout, _ = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"benchmark process failed with exit code {process.returncode}")
    return json.loads(stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, metavar="N",
                        help="Criteo-like rows written and trained on (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=1024, metavar="N", help="rows per batch (default: %(default)s)")
    parser.add_argument("--run", choices=SOURCES, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--read", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        print(json.dumps(run(args.run, args.data, args.batch_size, args.read)))
        return

    with tempfile.TemporaryDirectory(prefix="ctrkit-bench-") as tmp:
        directory = Path(tmp)
        started = time.perf_counter()
        write_data(directory, args.rows)
        print(f"wrote {args.rows} rows as arrays, {FILES} CSV, Parquet and TFRecord files in {time.perf_counter() - started:.0f} s")
        common = ["--data", str(directory), "--batch-size", str(args.batch_size)]
        rows = []
        for source in SOURCES:
            rows.append(_result(_spawn(["--run", source, "--read", *common])))
            print(json.dumps(rows[-1]), flush=True)
        ports = []
        for _ in range(2):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                ports.append(s.getsockname()[1])
        cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
        workers = [
            _spawn(["--run", "tfrecord", *common], {"cluster": cluster, "task": {"type": "worker", "index": i}})
            for i in range(2)
        ]
        reports = [_result(w) for w in workers]
        two = dict(reports[0], source="tfrecord, 2 workers")
        print(json.dumps(two), flush=True)

    print(f"\nDeepFM, {args.rows} rows, batch {args.batch_size}, {os.cpu_count()} CPU cores")
    print("| pipeline | workers | input alone (rows/s) | training (rows/s) |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['source']} | 1 | {r['read_rows_per_s']:,.0f} | {r['train_rows_per_s']:,.0f} |")
    print(f"| tfrecord | 2 | | {two['train_rows_per_s']:,.0f} |")


if __name__ == "__main__":
    main()
