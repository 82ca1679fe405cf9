"""DeepCTR manual example 2.3.7, "Estimator with TFRecord", on ctrkit.

Changes from the manual's code: `deepctr` -> `ctrkit` in the imports, and
`tf.estimator.RunConfig` (gone from TensorFlow 2.16+) -> `ctrkit.estimator.RunConfig`.

    python examples/run_estimator_tfrecord.py [--data PATH | --synthetic N] [--epochs N]

PATH is a folder holding `criteo_sample.tr.tfrecords` and
`criteo_sample.te.tfrecords` (label-encoded ids below 1000, scaled counts), by
default DeepCTR's samples from `$CTRKIT_SAMPLE_DATA` or `../shared/data`.
Without them, or with `--synthetic N`, the example writes N synthetic
Criteo-like rows (2,000 by default: 80 % for training, 20 % for testing) into
such files in a temporary folder first.
"""

import argparse
import os
import tempfile
from pathlib import Path

from ctrkit.data import make_criteo, sample_data_dir, train_valid_split, write_tfrecords
from ctrkit.estimator import DeepFMEstimator, RunConfig
from ctrkit.estimator.inputs import input_fn_tfrecord
import pandas as pd
import tensorflow as tf
from tensorflow.python.ops.parsing_ops import FixedLenFeature

SAMPLES = ("criteo_sample.tr.tfrecords", "criteo_sample.te.tfrecords")
SYNTHETIC_ROWS = 2_000


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data", type=Path, metavar="PATH",
                        help="folder holding the two TFRecord files (default: DeepCTR's samples when found, "
                             "else synthetic rows)")
    source.add_argument("--synthetic", type=int, metavar="N",
                        help=f"write N synthetic Criteo-like rows (default: {SYNTHETIC_ROWS:,} when no sample is found)")
    parser.add_argument("--epochs", type=int, default=1, metavar="N",
                        help="passes over the training file (default: %(default)s)")
    return parser.parse_args(argv)


def write_synthetic(rows: int, folder: Path) -> Path:
    """`rows` Criteo-like rows prepared as DeepCTR's TFRecord samples are,
    split into the two files in `folder`."""
    frame = make_criteo(rows, seed=0).frame
    for name in ['C' + str(i) for i in range(1, 27)]:
        frame[name] = pd.factorize(frame[name].fillna('-1'), sort=True)[0] % 1000
    dense = frame[['I' + str(i) for i in range(1, 14)]].fillna(0)
    frame[dense.columns] = ((dense - dense.min()) / (dense.max() - dense.min()).replace(0, 1)).astype('float32')
    frame['label'] = frame['label'].astype('float32')
    for part, name in zip(train_valid_split(frame, 0.2, seed=0), SAMPLES):
        write_tfrecords(part, folder / name)
    return folder


def data_folder(args: argparse.Namespace, workdir: str) -> Path:
    """`--data PATH`, else DeepCTR's samples, else a folder of synthetic rows."""
    rows = args.synthetic
    if rows is None:
        folder = args.data or sample_data_dir()
        if folder is not None and all((folder / name).is_file() for name in SAMPLES):
            return folder
        if args.data is not None:
            raise SystemExit(f"{args.data} does not hold {' and '.join(SAMPLES)}: pass --data PATH or --synthetic N")
        rows = SYNTHETIC_ROWS
        print(f"no {SAMPLES[0]} in $CTRKIT_SAMPLE_DATA or ../shared/data: using {rows:,} synthetic rows (make_criteo)")
    return write_synthetic(rows, Path(workdir))


if __name__ == "__main__":
    args = parse_args()
    workdir = tempfile.TemporaryDirectory()
    root = str(data_folder(args, workdir.name))

    # 1.generate feature_column for linear part and dnn part

    sparse_features = ['C' + str(i) for i in range(1, 27)]
    dense_features = ['I' + str(i) for i in range(1, 14)]

    dnn_feature_columns = []
    linear_feature_columns = []

    for i, feat in enumerate(sparse_features):
        dnn_feature_columns.append(tf.feature_column.embedding_column(
            tf.feature_column.categorical_column_with_identity(feat, 1000), 4))
        linear_feature_columns.append(tf.feature_column.categorical_column_with_identity(feat, 1000))
    for feat in dense_features:
        dnn_feature_columns.append(tf.feature_column.numeric_column(feat))
        linear_feature_columns.append(tf.feature_column.numeric_column(feat))

    # 2.generate input data for model

    feature_description = {k: FixedLenFeature(dtype=tf.int64, shape=1) for k in sparse_features}
    feature_description.update(
        {k: FixedLenFeature(dtype=tf.float32, shape=1) for k in dense_features})
    feature_description['label'] = FixedLenFeature(dtype=tf.float32, shape=1)

    train_model_input = input_fn_tfrecord(os.path.join(root, 'criteo_sample.tr.tfrecords'), feature_description,
                                          'label', batch_size=256, num_epochs=args.epochs, shuffle_factor=10)
    test_model_input = input_fn_tfrecord(os.path.join(root, 'criteo_sample.te.tfrecords'), feature_description,
                                         'label', batch_size=2 ** 14, num_epochs=1, shuffle_factor=0)

    # 3.Define Model,train,predict and evaluate
    model = DeepFMEstimator(linear_feature_columns, dnn_feature_columns, task='binary',
                            config=RunConfig(tf_random_seed=2021))

    model.train(train_model_input)
    eval_result = model.evaluate(test_model_input)

    print(eval_result)
    workdir.cleanup()
