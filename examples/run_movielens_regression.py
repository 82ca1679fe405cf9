"""Regression on MovieLens with DeepFM: predict a user's rating of a movie.

Run it on DeepCTR's `movielens_sample.txt` (by default
`../shared/data/movielens_sample.txt` from the repository root):

    python examples/run_movielens_regression.py [--data PATH] [--epochs 10]

or on synthetic rows of the same format from `ctrkit.data.make_movielens`:

    python examples/run_movielens_regression.py --synthetic 20000
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from ctrkit.data import make_movielens, read_movielens, train_valid_split
from ctrkit.feature_column import SparseFeat, get_feature_names
from ctrkit.models import DeepFM

DEFAULT_DATA = Path(__file__).resolve().parent.parent / ".." / "shared" / "data" / "movielens_sample.txt"
SPARSE_FEATURES = ["movie_id", "user_id", "gender", "age", "occupation", "zip"]
TARGET = ["rating"]


def load(args: argparse.Namespace) -> pd.DataFrame:
    if args.synthetic:
        return make_movielens(args.synthetic, seed=args.seed).frame.copy()
    if not args.data.is_file():
        raise SystemExit(f"{args.data} not found: pass --data PATH, or --synthetic N for synthetic rows")
    return read_movielens(args.data)


def label_encode(values: pd.Series) -> np.ndarray:
    """Ids 0..k-1 in the sorted order of the distinct values, as a label encoder gives."""
    _, ids = np.unique(values.astype(str).to_numpy(), return_inverse=True)
    return ids.astype("int32")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="movielens sample file")
    parser.add_argument("--synthetic", type=int, default=0, metavar="N",
                        help="train on N synthetic rows from ctrkit.data.make_movielens instead")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=2020)
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
    )
    pred_ans = model.predict(test_model_input, batch_size=256, verbose=0).reshape(-1)
    mse = float(np.mean((test[TARGET[0]].to_numpy() - pred_ans) ** 2))
    print("test MSE", round(mse, 4))


if __name__ == "__main__":
    main()
