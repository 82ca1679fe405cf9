"""The DeepCTR manual's Criteo classification examples, with `ctrkit` imports.

    python examples/run_classification_criteo.py                # label-encoded features (manual 2.3.1)
    python examples/run_classification_criteo.py --hash         # feature hashing on the fly (manual 2.3.2)
    python examples/run_classification_criteo.py --synthetic 20000
    python examples/run_classification_criteo.py --model xDeepFM   # any non-sequence, single-task model

Reads DeepCTR's `criteo_sample.txt` from `$CTRKIT_SAMPLE_DATA` or
`../shared/data` (beside the repository) when it is there, `--data PATH`
names another file, and `--synthetic N` uses N rows of
`ctrkit.data.make_criteo` instead; without a sample file it says so and uses
20,000 synthetic rows. The body below is the manual's code with `deepctr`
replaced by `ctrkit`, and Adagrad at 0.1 instead of Adam: with Adam, DeepFM
overfits 16,000 rows from the second epoch (validation loss rising, test AUC
0.66 after ten epochs); with Adagrad the validation loss falls over all ten
epochs (test AUC 0.72). `--model` swaps DeepFM for another model (AFM, CCPM
and EDCN take only the sparse features in their deep part, MLR takes the
features as its region features, FLEN gets two field groups).
"""

import argparse
import inspect
from pathlib import Path

from ctrkit import models
from ctrkit.data import make_criteo, sample_or_synthetic
from ctrkit.feature_column import DenseFeat, SparseFeat, get_feature_names
import keras
import pandas as pd
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder, MinMaxScaler

SAMPLE = "criteo_sample.txt"
SYNTHETIC_ROWS = 20_000


SPARSE_ONLY_DEEP_PART = {"AFM", "CCPM", "EDCN"}


def build(name, linear_feature_columns, dnn_feature_columns):
    """The model called `name`, given the columns its constructor takes."""
    model_fn = getattr(models, name)
    if name == "FLEN":  # FLEN interacts field groups: split the fields into two
        dnn_feature_columns = [
            fc._replace(group_name="user" if int(fc.name[1:]) <= 13 else "context") if isinstance(fc, SparseFeat) else fc
            for fc in dnn_feature_columns
        ]
    if name in SPARSE_ONLY_DEEP_PART:
        dnn_feature_columns = [fc for fc in dnn_feature_columns if isinstance(fc, SparseFeat)]
    parameters = inspect.signature(model_fn).parameters
    if "linear_feature_columns" in parameters:
        return model_fn(linear_feature_columns, dnn_feature_columns, task="binary")
    if "region_feature_columns" in parameters:
        return model_fn(linear_feature_columns, task="binary")
    return model_fn(dnn_feature_columns, task="binary")


def load(args: argparse.Namespace) -> pd.DataFrame:
    """The rows: `--synthetic N`, `--data PATH`, DeepCTR's sample, or synthetic rows without it."""
    return sample_or_synthetic(SAMPLE, args.data, args.synthetic, pd.read_csv,
                               lambda n: make_criteo(n, seed=0).frame, SYNTHETIC_ROWS)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data", type=Path, metavar="PATH",
                        help=f"a file like {SAMPLE} (default: DeepCTR's {SAMPLE} when found, else synthetic rows)")
    source.add_argument("--synthetic", type=int, metavar="N",
                        help=f"use N synthetic Criteo-like rows (default: {SYNTHETIC_ROWS:,} when no sample is found)")
    parser.add_argument("--epochs", type=int, default=10, metavar="N", help="training epochs (default: %(default)s)")
    parser.add_argument("--hash", action="store_true", help="hash the raw strings inside the model")
    parser.add_argument("--model", default="DeepFM", help="a ctrkit model name (default: %(default)s)")
    args = parser.parse_args(argv)

    data = load(args)

    sparse_features = ["C" + str(i) for i in range(1, 27)]
    dense_features = ["I" + str(i) for i in range(1, 14)]

    data[sparse_features] = data[sparse_features].fillna("-1")
    data[dense_features] = data[dense_features].fillna(0)
    target = ["label"]

    # 1. encode the sparse features (or leave them raw for hashing), scale the dense ones
    if not args.hash:
        for feat in sparse_features:
            lbe = LabelEncoder()
            data[feat] = lbe.fit_transform(data[feat])
    mms = MinMaxScaler(feature_range=(0, 1))
    data[dense_features] = mms.fit_transform(data[dense_features])

    # 2. feature columns
    if args.hash:
        fixlen_feature_columns = [
            SparseFeat(feat, vocabulary_size=1000, embedding_dim=4, use_hash=True, dtype="string")
            for feat in sparse_features
        ] + [DenseFeat(feat, 1) for feat in dense_features]
    else:
        fixlen_feature_columns = [
            SparseFeat(feat, vocabulary_size=data[feat].max() + 1, embedding_dim=4) for feat in sparse_features
        ] + [DenseFeat(feat, 1) for feat in dense_features]

    dnn_feature_columns = fixlen_feature_columns
    linear_feature_columns = fixlen_feature_columns
    feature_names = get_feature_names(linear_feature_columns + dnn_feature_columns)

    # 3. model input
    train, test = train_test_split(data, test_size=0.2, random_state=2020)
    train_model_input = {name: train[name] for name in feature_names}
    test_model_input = {name: test[name] for name in feature_names}

    # 4. define, train, predict and evaluate
    model = build(args.model, linear_feature_columns, dnn_feature_columns)
    model.compile(keras.optimizers.Adagrad(0.1), "binary_crossentropy", metrics=["binary_crossentropy"])
    model.fit(
        train_model_input, train[target].values, batch_size=256, epochs=args.epochs, verbose=2, validation_split=0.2
    )
    pred_ans = model.predict(test_model_input, batch_size=256, verbose=0)
    print("test LogLoss", round(log_loss(test[target].values, pred_ans), 4))
    print("test AUC", round(roc_auc_score(test[target].values, pred_ans), 4))


if __name__ == "__main__":
    main()
