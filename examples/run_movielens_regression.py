"""Regression on MovieLens with DeepFM: predict a user's rating of a movie.

    python examples/run_movielens_regression.py [--data PATH | --synthetic N] [--epochs N]

Reads DeepCTR's `movielens_sample.txt` from `$CTRKIT_SAMPLE_DATA` or
`../shared/data` (beside the repository) when it is there, `--data PATH`
names another file, and `--synthetic N` uses N rows of the same format from
`ctrkit.data.make_movielens`; without a sample file it says so and uses 20,000
synthetic rows.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ctrkit.data import make_movielens, read_movielens, sample_or_synthetic, train_valid_split
from ctrkit.feature_column import SparseFeat, get_feature_names
from ctrkit.models import DeepFM
import keras
import numpy as np
import pandas as pd

SAMPLE = "movielens_sample.txt"
SYNTHETIC_ROWS = 20_000
SPARSE_FEATURES = ["movie_id", "user_id", "gender", "age", "occupation", "zip"]
TARGET = ["rating"]


def load(args: argparse.Namespace) -> pd.DataFrame:
    """The rows: `--synthetic N`, `--data PATH`, DeepCTR's sample, or synthetic rows without it."""
    return sample_or_synthetic(SAMPLE, args.data, args.synthetic, read_movielens,
                               lambda n: make_movielens(n, seed=args.seed).frame.copy(), SYNTHETIC_ROWS)


def label_encode(values: pd.Series) -> np.ndarray:
    """Ids 0..k-1 in the sorted order of the distinct values, as a label encoder gives."""
    _, ids = np.unique(values.astype(str).to_numpy(), return_inverse=True)
    return ids.astype("int32")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data", type=Path, metavar="PATH",
                        help=f"a file like {SAMPLE} (default: DeepCTR's {SAMPLE} when found, else synthetic rows)")
    source.add_argument("--synthetic", type=int, metavar="N",
                        help=f"use N synthetic MovieLens-like rows (default: {SYNTHETIC_ROWS:,} when no sample is found)")
    parser.add_argument("--epochs", type=int, default=10, metavar="N", help="training epochs (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=2020, help="seed of the synthetic rows and the split (default: %(default)s)")
    args = parser.parse_args(argv)

    data = load(args)
    # 1. Label encoding for the sparse features.
    for feat in SPARSE_FEATURES:
        data[feat] = label_encode(data[feat])
    # 2. The number of distinct values of each sparse field.
    fixlen_feature_columns = [SparseFeat(feat, int(data[feat].max()) + 1, embedding_dim=4) for feat in SPARSE_FEATURES]
    linear_feature_columns = fixlen_feature_columns
    dnn_feature_columns = fixlen_feature_columns
    feature_names = get_feature_names(linear_feature_columns + dnn_feature_columns)

    # 3. Model inputs.
    train, test = train_valid_split(data, valid_fraction=0.2, seed=args.seed)
    train_model_input = {name: train[name].to_numpy() for name in feature_names}
    test_model_input = {name: test[name].to_numpy() for name in feature_names}

    # 4. Define the model, train, predict and evaluate.
    model = DeepFM(linear_feature_columns, dnn_feature_columns, task="regression")
    model.compile("adam", "mse", metrics=["mse"])
    model.fit(
        train_model_input,
        train[TARGET].to_numpy().astype("float32"),
        batch_size=256,
        epochs=args.epochs,
        verbose=2,
        validation_split=0.2,
        # The ids memorise 16,000 ratings within two epochs: stop when the
        # validation loss stops falling and keep the best weights.
        callbacks=[keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True)],
    )
    pred_ans = model.predict(test_model_input, batch_size=256, verbose=0).reshape(-1)
    mse = float(np.mean((test[TARGET[0]].to_numpy() - pred_ans) ** 2))
    print("test MSE", round(mse, 4))


if __name__ == "__main__":
    main()
