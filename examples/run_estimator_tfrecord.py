"""DeepCTR manual example 2.3.7, "Estimator with TFRecord", on ctrkit.

Changes from the manual's code: `deepctr` -> `ctrkit` in the imports, and
`tf.estimator.RunConfig` (gone from TensorFlow 2.16+) -> `ctrkit.estimator.RunConfig`.

    python examples/run_estimator_tfrecord.py [DATA_DIR]

DATA_DIR holds criteo_sample.tr.tfrecords and criteo_sample.te.tfrecords
(default: ../shared/data next to the repository, or the current directory).
"""

import os
import sys

import tensorflow as tf

from tensorflow.python.ops.parsing_ops import FixedLenFeature
from ctrkit.estimator import DeepFMEstimator, RunConfig
from ctrkit.estimator.inputs import input_fn_tfrecord


def data_dir() -> str:
    if len(sys.argv) > 1:
        return sys.argv[1]
    shared = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")
    return shared if os.path.exists(os.path.join(shared, "criteo_sample.tr.tfrecords")) else "."


if __name__ == "__main__":
    root = data_dir()

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
                                          'label', batch_size=256, num_epochs=1, shuffle_factor=10)
    test_model_input = input_fn_tfrecord(os.path.join(root, 'criteo_sample.te.tfrecords'), feature_description,
                                         'label', batch_size=2 ** 14, num_epochs=1, shuffle_factor=0)

    # 3.Define Model,train,predict and evaluate
    model = DeepFMEstimator(linear_feature_columns, dnn_feature_columns, task='binary',
                            config=RunConfig(tf_random_seed=2021))

    model.train(train_model_input)
    eval_result = model.evaluate(test_model_input)

    print(eval_result)
