"""DeepCTR manual example 2.3.8, "Estimator with Pandas DataFrame", on ctrkit.

Changes from the manual's code: `deepctr` -> `ctrkit` in the imports,
`tf.estimator.RunConfig` (gone from TensorFlow 2.16+) ->
`ctrkit.estimator.RunConfig`, and scikit-learn's helpers replaced by their
pandas / `ctrkit.data` equivalents (label encoding, min-max scaling, the
train/test split, log loss and AUC), so the example needs no scikit-learn.

    python examples/run_estimator_pandas.py [--data PATH | --synthetic N] [--epochs N]

Reads DeepCTR's `criteo_sample.txt` from `$CTRKIT_SAMPLE_DATA` or
`../shared/data` when it is there; without it, says so and uses 2,000
synthetic rows from `ctrkit.data.make_criteo`.
"""

import argparse
from pathlib import Path

from ctrkit.data import make_criteo, sample_or_synthetic
from ctrkit.data.dataset import train_valid_split
from ctrkit.data.metrics import log_loss, roc_auc_score
from ctrkit.estimator import DeepFMEstimator, RunConfig
from ctrkit.estimator.inputs import input_fn_pandas
import pandas as pd
import tensorflow as tf

SAMPLE = "criteo_sample.txt"
SYNTHETIC_ROWS = 2_000


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data", type=Path, metavar="PATH",
                        help=f"a file like {SAMPLE} (default: DeepCTR's {SAMPLE} when found, else synthetic rows)")
    source.add_argument("--synthetic", type=int, metavar="N",
                        help=f"use N synthetic Criteo-like rows (default: {SYNTHETIC_ROWS:,} when no sample is found)")
    parser.add_argument("--epochs", type=int, default=1, metavar="N",
                        help="passes over the training rows (default: %(default)s)")
    return parser.parse_args(argv)


def load(args: argparse.Namespace) -> pd.DataFrame:
    """The rows: `--synthetic N`, `--data PATH`, DeepCTR's sample, or synthetic rows without it."""
    return sample_or_synthetic(SAMPLE, args.data, args.synthetic, pd.read_csv,
                               lambda n: make_criteo(n, seed=0).frame, SYNTHETIC_ROWS)


if __name__ == "__main__":
    args = parse_args()
    data = load(args)

    sparse_features = ['C' + str(i) for i in range(1, 27)]
    dense_features = ['I' + str(i) for i in range(1, 14)]

    data[sparse_features] = data[sparse_features].fillna('-1', )
    data[dense_features] = data[dense_features].fillna(0, )
    target = ['label']

    # 1.Label Encoding for sparse features,and do simple Transformation for dense features
    for feat in sparse_features:
        data[feat] = pd.factorize(data[feat].astype(str), sort=True)[0]
    low, high = data[dense_features].min(), data[dense_features].max()
    data[dense_features] = (data[dense_features] - low) / (high - low).where(high > low, 1)

    # 2.count #unique features for each sparse field,and record dense feature field name

    dnn_feature_columns = []
    linear_feature_columns = []

    for i, feat in enumerate(sparse_features):
        dnn_feature_columns.append(tf.feature_column.embedding_column(
            tf.feature_column.categorical_column_with_identity(feat, data[feat].max() + 1), 4))
        linear_feature_columns.append(tf.feature_column.categorical_column_with_identity(feat, data[feat].max() + 1))
    for feat in dense_features:
        dnn_feature_columns.append(tf.feature_column.numeric_column(feat))
        linear_feature_columns.append(tf.feature_column.numeric_column(feat))

    # 3.generate input data for model

    train, test = train_valid_split(data, 0.2, seed=2021)

    # Not setting default value for continuous feature. filled with mean.

    train_model_input = input_fn_pandas(train, sparse_features + dense_features, 'label', shuffle=True,
                                        num_epochs=args.epochs)
    test_model_input = input_fn_pandas(test, sparse_features + dense_features, None, shuffle=False)

    # 4.Define Model,train,predict and evaluate
    model = DeepFMEstimator(linear_feature_columns, dnn_feature_columns, task='binary',
                            config=RunConfig(tf_random_seed=2021))

    model.train(train_model_input)
    pred_ans_iter = model.predict(test_model_input)
    pred_ans = list(map(lambda x: x['pred'], pred_ans_iter))
    #
    print("test LogLoss", round(log_loss(test[target].values, pred_ans), 4))
    print("test AUC", round(roc_auc_score(test[target].values, pred_ans), 4))
