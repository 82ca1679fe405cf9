"""DeepFM throughput: training rows/s and exported-model inference rows/s.

    python benchmarks/deepfm_throughput.py [--rows 200000] [--epochs 1]

Trains the demo spec's DeepFM (models/criteo_deepfm/spec.yaml) on synthetic
Criteo-like rows, exports it to a temporary repository, then times the
SavedModel's `serving_default` (39 named inputs) and `serving_packed`
(3 packed inputs) signatures in-process at several batch sizes. All figures
come from the same run, so compare them with each other, not across machines.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ctrkit.export import load_bundle  # noqa: E402
from ctrkit.training import TrainingSpec, model_input, train_from_spec  # noqa: E402


def _time_calls(fn, repeats: int) -> float:
    """Median seconds per call after a warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _packed_inputs(bundle, features: dict[str, np.ndarray], rows: int):
    import tensorflow as tf

    tensors = {}
    dtypes = {"strings": object, "ints": np.int64, "floats": np.float32}
    for group, columns in bundle.spec["packed"].items():
        parts = [np.asarray(features[name][:rows]).reshape(rows, width) for name, width in columns]
        tensors[group] = tf.constant(np.concatenate(parts, axis=1).astype(dtypes[group]))
    return tensors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000, metavar="N",
                        help="synthetic Criteo-like rows to train on (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=1, metavar="N", help="training epochs (default: %(default)s)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64, 1024, 4096], metavar="ROWS",
                        help="rows per inference call, timed in turn (default: 1 64 1024 4096)")
    args = parser.parse_args()

    spec = TrainingSpec.load(ROOT / "models" / "criteo_deepfm" / "spec.yaml")
    with tempfile.TemporaryDirectory() as repository:
        result = train_from_spec(spec, rows=args.rows, epochs=args.epochs, repository=repository, verbose=0)
        print(f"training: {result.rows_seen:,} rows in {result.seconds:.1f} s = {result.rows_seen / result.seconds:,.0f} rows/s")
        print(f"validation auc {result.validation['auc']:.4f} (planted model: {result.planted_auc:.4f})")

        bundle = load_bundle(result.version_dir)
        from ctrkit.data import make_criteo

        frame = make_criteo(max(args.batches), seed=99).frame
        features = model_input(frame, result.feature_columns)
        print(f"\n{'rows/call':>9} | {'named ms':>9} {'rows/s':>10} | {'packed ms':>9} {'rows/s':>10}")
        for rows in args.batches:
            named = bundle.to_tensors({k: v[:rows] for k, v in features.items()})
            packed = _packed_inputs(bundle, features, rows)
            repeats = max(20, min(500, 20_000 // rows))
            t_named = _time_calls(lambda: bundle.signature(**named), repeats)
            t_packed = _time_calls(lambda: bundle.packed_signature(**packed), repeats)
            print(
                f"{rows:>9} | {t_named * 1e3:>9.2f} {rows / t_named:>10,.0f} | {t_packed * 1e3:>9.2f} {rows / t_packed:>10,.0f}"
            )


if __name__ == "__main__":
    main()
