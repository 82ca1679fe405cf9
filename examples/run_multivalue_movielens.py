"""Multi-value input on MovieLens: a movie's genres (`Comedy|Drama`) as one
`VarLenSparseFeat`, pooled by its mean embedding, in a DeepFM regression.

Three variants of DeepCTR's examples:

* default: label-encoded features, genres encoded as ids from 1 (0 is the
  padding) and padded after the end; `--weighted` adds a per-genre weight
  input (`weight_name`);
* `--hash`: raw strings hashed on the fly inside the model (`use_hash=True`),
  genres padded with "0";
* `--vocabulary [PATH]`: as `--hash`, but `age` is looked up in a
  `value,key` vocabulary file (default: DeepCTR's
  `movielens_age_vocabulary.csv` when found, else one written from the data).

    python examples/run_multivalue_movielens.py [--hash | --vocabulary [PATH]] [--data PATH | --synthetic N] [--epochs N]
    python examples/run_multivalue_movielens.py --synthetic 20000 --hash

Reads DeepCTR's `movielens_sample.txt` from `$CTRKIT_SAMPLE_DATA` or
`../shared/data` when it is there; without it, says so and uses 20,000
synthetic rows from `ctrkit.data.make_movielens`.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from ctrkit.data import make_movielens, read_movielens, sample_file, sample_or_synthetic, write_vocabulary
from ctrkit.feature_column import SparseFeat, VarLenSparseFeat, get_feature_names
from ctrkit.models import DeepFM
import keras
import numpy as np
import pandas as pd

SAMPLE = "movielens_sample.txt"
VOCABULARY_SAMPLE = "movielens_age_vocabulary.csv"
SYNTHETIC_ROWS = 20_000
SPARSE_FEATURES = ["movie_id", "user_id", "gender", "age", "occupation", "zip"]
TARGET = ["rating"]


def load(args: argparse.Namespace) -> pd.DataFrame:
    """The rows: `--synthetic N`, `--data PATH`, DeepCTR's sample, or synthetic rows without it."""
    return sample_or_synthetic(SAMPLE, args.data, args.synthetic, read_movielens,
                               lambda n: make_movielens(n, seed=args.seed).frame.copy(), SYNTHETIC_ROWS)


def label_encoded(data: pd.DataFrame, weighted: bool, seed: int):
    """DeepCTR's multi-value example: ids for everything, 0 kept for padding."""
    for feat in SPARSE_FEATURES:
        _, ids = np.unique(data[feat].astype(str).to_numpy(), return_inverse=True)
        data[feat] = ids.astype("int32")

    key2index: dict[str, int] = {}

    def split(x: str) -> list[int]:
        keys = x.split("|")
        for key in keys:
            if key not in key2index:
                # Notice: 0 is the padding value, so no genre is encoded as 0.
                key2index[key] = len(key2index) + 1
        return [key2index[key] for key in keys]

    genres_list = [split(x) for x in data["genres"].to_numpy()]
    max_len = max(map(len, genres_list))
    # Notice: padding="post".
    genres = keras.utils.pad_sequences(genres_list, maxlen=max_len, padding="post")

    fixlen_feature_columns = [SparseFeat(feat, int(data[feat].max()) + 1, embedding_dim=4) for feat in SPARSE_FEATURES]
    varlen_feature_columns = [
        VarLenSparseFeat(
            SparseFeat("genres", vocabulary_size=len(key2index) + 1, embedding_dim=4),
            maxlen=max_len,
            combiner="mean",
            weight_name="genres_weight" if weighted else None,
        )
    ]
    extra = {"genres": genres}
    if weighted:
        extra["genres_weight"] = np.random.default_rng(seed).standard_normal((len(data), max_len, 1)).astype("float32")
    return fixlen_feature_columns, varlen_feature_columns, extra


def hashed(data: pd.DataFrame, vocabulary_path: Path | None):
    """DeepCTR's hashing examples: raw strings in, hashed (or looked up) in the model."""
    data[SPARSE_FEATURES] = data[SPARSE_FEATURES].astype(str)
    genres_list = [x.split("|") for x in data["genres"].to_numpy()]
    max_len = max(map(len, genres_list))
    # Notice: padding="post", with "0" (hashed to the padding id 0).
    genres = keras.utils.pad_sequences(genres_list, maxlen=max_len, padding="post", dtype=object, value=0).astype(str)

    fixlen_feature_columns = [
        SparseFeat(
            feat,
            data[feat].nunique() * 5,
            embedding_dim=4,
            use_hash=True,
            vocabulary_path=str(vocabulary_path) if vocabulary_path is not None and feat == "age" else None,
            dtype="string",
        )
        for feat in SPARSE_FEATURES
    ]
    varlen_feature_columns = [
        VarLenSparseFeat(
            SparseFeat("genres", vocabulary_size=100, embedding_dim=4, use_hash=True, dtype="string"),
            maxlen=max_len,
            combiner="mean",
        )
    ]
    return fixlen_feature_columns, varlen_feature_columns, {"genres": genres}


def vocabulary_file(path: Path | None, data: pd.DataFrame, workdir: str) -> Path:
    """The age vocabulary: the given file, else the sample's, else one written
    from the ages in the data (ids from 1)."""
    if path is not None:
        if not path.is_file():
            raise SystemExit(f"vocabulary file {path} not found")
        return path
    sample = sample_file(VOCABULARY_SAMPLE)
    if sample is not None:
        return sample
    written = Path(workdir) / "age_vocabulary.csv"
    ages = sorted(data["age"].astype(str).unique(), key=int)
    write_vocabulary({age: i + 1 for i, age in enumerate(ages)}, written)
    print(f"no {VOCABULARY_SAMPLE} in $CTRKIT_SAMPLE_DATA or ../shared/data: wrote {written}")
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data", type=Path, metavar="PATH",
                        help=f"a file like {SAMPLE} (default: DeepCTR's {SAMPLE} when found, else synthetic rows)")
    source.add_argument("--synthetic", type=int, metavar="N",
                        help=f"use N synthetic MovieLens-like rows (default: {SYNTHETIC_ROWS:,} when no sample is found)")
    variant = parser.add_mutually_exclusive_group()
    variant.add_argument("--hash", action="store_true", help="hash the raw strings inside the model")
    variant.add_argument("--vocabulary", nargs="?", const="", default=None, metavar="PATH",
                         help="hash, and look age up in a vocabulary file (default: movielens_age_vocabulary.csv)")
    parser.add_argument("--weighted", action="store_true", help="give each genre a weight (label-encoded variant)")
    parser.add_argument("--epochs", type=int, default=10, metavar="N", help="training epochs (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=2020, help="seed of the synthetic rows and the split (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.weighted and (args.hash or args.vocabulary is not None):
        parser.error("--weighted goes with the label-encoded variant only")

    data = load(args)
    with tempfile.TemporaryDirectory() as workdir:
        if args.vocabulary is not None:
            path = vocabulary_file(Path(args.vocabulary) if args.vocabulary else None, data, workdir)
            print("age vocabulary", path)
            fixlen, varlen, extra = hashed(data, path)
        elif args.hash:
            fixlen, varlen, extra = hashed(data, None)
        else:
            fixlen, varlen, extra = label_encoded(data, args.weighted, args.seed)
        linear_feature_columns = fixlen + varlen
        dnn_feature_columns = fixlen + varlen
        feature_names = get_feature_names(linear_feature_columns + dnn_feature_columns)

        model_input = {name: data[name].to_numpy() for name in feature_names if name in data.columns}
        model_input.update(extra)

        model = DeepFM(linear_feature_columns, dnn_feature_columns, task="regression")
        model.compile("adam", "mse", metrics=["mse"])
        history = model.fit(
            model_input,
            data[TARGET].to_numpy().astype("float32"),
            batch_size=256,
            epochs=args.epochs,
            verbose=2,
            validation_split=0.2,
            # The ids memorise the ratings within a few epochs: stop when the
            # validation loss stops falling and keep the best weights.
            callbacks=[keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True)],
        )
    print("genres maxlen", extra["genres"].shape[1])
    print("validation MSE", round(min(history.history["val_mse"]), 4))


if __name__ == "__main__":
    main()
