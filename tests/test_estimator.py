"""Estimators: the manual's two examples, resuming from model_dir, evaluate/predict/export, the zoo's signatures."""

import ast
import contextlib
import inspect
import io
import math
import runpy
import sys
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from ctrkit import estimator as est
from ctrkit.data.criteo import make_criteo
from ctrkit.data.metrics import roc_auc_score
from ctrkit.data.pipelines import write_tfrecord
from ctrkit.estimator import feature_column as fc
from ctrkit.estimator.inputs import input_fn_pandas, input_fn_tfrecord
from ctrkit.export import load_bundle
from ctrkit.feature_column import DenseFeat, SparseFeat
from ctrkit.layers import DNN, CrossNet

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT.parent / "shared" / "data"
SPARSE = [f"C{i}" for i in range(1, 27)]
DENSE = [f"I{i}" for i in range(1, 14)]


def _run_example(name: str, *args: str) -> str:
    out = io.StringIO()
    argv = sys.argv
    sys.argv = [name, *args]
    try:
        with contextlib.redirect_stdout(out):
            runpy.run_path(str(ROOT / "examples" / name), run_name="__main__")
    finally:
        sys.argv = argv
    return out.getvalue()


@pytest.mark.skipif(not (SAMPLES / "criteo_sample.tr.tfrecords").is_file(), reason="DeepCTR's TFRecord samples are not here")
def test_manual_tfrecord_example_on_the_sample():
    # Without the samples, tests/test_examples.py runs the example on synthetic files.
    output = _run_example("run_estimator_tfrecord.py", "--data", str(SAMPLES))
    result = ast.literal_eval(output.strip().splitlines()[-1])
    assert {"AUC", "LogLoss", "loss", "global_step", "prediction/mean", "label/mean"} <= set(result)
    assert result["global_step"] == math.ceil(160 / 256)
    assert 0.0 <= result["AUC"] <= 1.0 and math.isfinite(result["LogLoss"]) and math.isfinite(result["loss"])


@pytest.mark.skipif(not (SAMPLES / "criteo_sample.txt").is_file(), reason="DeepCTR's criteo_sample.txt is not here")
def test_manual_pandas_example_on_the_sample():
    output = _run_example("run_estimator_pandas.py", "--data", str(SAMPLES / "criteo_sample.txt"))
    lines = dict(line.rsplit(" ", 1) for line in output.strip().splitlines()[-2:])
    assert math.isfinite(float(lines["test LogLoss"])) and 0.0 <= float(lines["test AUC"]) <= 1.0


def _columns():
    sparse = [SparseFeat(c, 200, 4, use_hash=True, dtype="string") for c in ("C1", "C2", "C5", "C6", "C14")]
    return sparse + [DenseFeat("I1", transform_fn=keras.ops.log1p), DenseFeat("I3", transform_fn=keras.ops.log1p)]


@pytest.fixture(scope="module")
def criteo_frame() -> pd.DataFrame:
    df = make_criteo(1200, seed=5).frame
    return df.fillna({"I1": 0, "I3": 0})


def _input(df, shuffle=False, epochs=1, label="label"):
    return input_fn_pandas(df, ["C1", "C2", "C5", "C6", "C14", "I1", "I3"], label, batch_size=64, num_epochs=epochs, shuffle=shuffle)


class _Crash(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if logs["global_step"] == 7:
            raise RuntimeError("killed")


def test_training_resumes_from_model_dir(tmp_path, criteo_frame):
    columns = _columns()
    config = est.RunConfig(tf_random_seed=1, save_checkpoints_steps=5)

    def estimator(model_dir, hooks=None):
        return est.DeepFMEstimator(
            columns, columns, dnn_hidden_units=(8,), model_dir=model_dir, config=config, training_chief_hooks=hooks
        )

    straight = estimator(tmp_path / "straight").train(_input(criteo_frame, epochs=None), max_steps=12)
    assert straight.latest_checkpoint().endswith("ckpt-12")

    crashing = estimator(tmp_path / "resumed", hooks=[_Crash()])
    with pytest.raises(RuntimeError, match="killed"):
        crashing.train(_input(criteo_frame, epochs=None), max_steps=12)
    assert crashing.latest_checkpoint().endswith("ckpt-5")

    resumed = estimator(tmp_path / "resumed")
    saved = resumed.get_variable_value("model_variables/0/.ATTRIBUTES/VARIABLE_VALUE")
    assert int(resumed.trainer.global_step.numpy()) == 5
    np.testing.assert_array_equal(resumed.keras_model.variables[0].numpy(), saved)
    assert not np.array_equal(saved, straight.keras_model.variables[0].numpy())
    resumed.train(_input(criteo_frame, epochs=None), max_steps=12)
    assert resumed.evaluate(_input(criteo_frame), steps=2)["global_step"] == 12
    assert straight.evaluate(_input(criteo_frame), steps=2)["global_step"] == 12
    assert resumed.latest_checkpoint().endswith("ckpt-12")
    # already at max_steps: nothing more to do
    resumed.train(_input(criteo_frame, epochs=None), max_steps=12)
    assert int(resumed.trainer.global_step.numpy()) == 12


def test_evaluate_predict_export(tmp_path, criteo_frame):
    columns = _columns()
    train, test = criteo_frame.iloc[:1000], criteo_frame.iloc[1000:]
    model = est.WDLEstimator(columns, columns, dnn_hidden_units=(8,), model_dir=tmp_path / "wdl", config=est.RunConfig(tf_random_seed=0))
    model.train(_input(train, shuffle=True, epochs=2))
    metrics = model.evaluate(_input(test))
    assert metrics["global_step"] == 2 * math.ceil(1000 / 64)

    rows = list(model.predict(_input(test, label=None)))
    assert len(rows) == len(test) and set(rows[0]) == {"pred", "logits"} and rows[0]["pred"].shape == (1,)
    pred = np.array([r["pred"][0] for r in rows])
    logits = np.array([r["logits"][0] for r in rows])
    np.testing.assert_allclose(1 / (1 + np.exp(-logits)), pred, atol=1e-5)
    y = test["label"].to_numpy()
    assert metrics["AUC"] == pytest.approx(roc_auc_score(y, pred), abs=1e-9)
    assert metrics["label/mean"] == pytest.approx(y.mean()) and metrics["prediction/mean"] == pytest.approx(pred.mean(), rel=1e-5)
    assert metrics["LogLoss"] == pytest.approx(-np.mean(y * np.log(pred) + (1 - y) * np.log(1 - pred)), rel=1e-4)

    version = model.export_saved_model(tmp_path / "repo")
    assert version == tmp_path / "repo" / "1"
    bundle = load_bundle(version)
    assert bundle.spec["model"]["class"] == "WDL" and bundle.spec["training"]["global_step"] == metrics["global_step"]
    inputs = {c.name: test[c.name].fillna("").to_numpy(str) for c in columns if isinstance(c, SparseFeat)}
    inputs.update({c.name: test[c.name].to_numpy("float32") for c in columns if isinstance(c, DenseFeat)})
    np.testing.assert_allclose(bundle.predict(inputs)["ctr"], pred, atol=1e-5)


def test_tf_feature_columns_and_the_replacement_module_agree():
    ours = [
        fc.embedding_column(fc.categorical_column_with_identity("C1", 1000), 4),
        fc.categorical_column_with_hash_bucket("C2", 50),
        fc.numeric_column("I1"),
        fc.numeric_column("I2", shape=(2, 3)),
    ]
    tf_columns = [
        tf.feature_column.embedding_column(tf.feature_column.categorical_column_with_identity("C1", 1000), 4),
        tf.feature_column.categorical_column_with_hash_bucket("C2", 50),
        tf.feature_column.numeric_column("I1"),
        tf.feature_column.numeric_column("I2", shape=(2, 3)),
    ]
    converted = fc.to_ctrkit_columns(tf_columns)
    assert converted[0] == SparseFeat("C1", 1000, 4, dtype="int64", embeddings_initializer=converted[0].embeddings_initializer)
    assert converted[0].embeddings_initializer.stddev == pytest.approx(0.5) == ours[0].embeddings_initializer.stddev
    assert converted[1][:-4] == ours[1][:-4] == ("C2", 50, 4, True, None, "string")
    assert converted[2] == ours[2] == DenseFeat("I1", 1)
    assert converted[3].dimension == ours[3].dimension == 6
    with pytest.raises(TypeError, match="unsupported feature column"):
        fc.to_ctrkit_columns([tf.feature_column.bucketized_column(tf.feature_column.numeric_column("x"), [0.0])])
    with pytest.raises(ValueError, match="default_value is not supported"):
        fc.categorical_column_with_identity("C1", 10, default_value=0)


def test_input_fns(tmp_path, criteo_frame):
    df = criteo_frame.iloc[:100].reset_index(drop=True)
    batches = list(input_fn_pandas(df, ["C1", "I2"], "label", batch_size=32, shuffle=True)())
    assert [len(y) for _, y in batches] == [32, 32, 32, 4]
    assert batches[0][0]["C1"].dtype == tf.string and batches[0][0]["I2"].dtype == tf.int64
    np.testing.assert_array_equal(np.sort(np.concatenate([f["I2"].numpy() for f, _ in batches])), np.sort(df["I2"].to_numpy()))
    halves = [
        np.concatenate([f["I2"].numpy() for f in input_fn_pandas(df, ["I2"], batch_size=16)(
            tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=i))])
        for i in range(2)
    ]
    np.testing.assert_array_equal(np.sort(np.concatenate(halves)), np.sort(df["I2"].to_numpy()))

    write_tfrecord(df, str(tmp_path / "x.tfrecords"), [SparseFeat("C1", 9, dtype="string"), DenseFeat("I2")])
    description = {
        "C1": tf.io.FixedLenFeature([1], tf.string),
        "I2": tf.io.FixedLenFeature([1], tf.float32),
        "label": tf.io.FixedLenFeature([1], tf.float32),
    }
    batches = list(input_fn_tfrecord(str(tmp_path / "*.tfrecords"), description, "label", batch_size=40, shuffle_factor=0)())
    assert [tuple(f["I2"].shape) for f, _ in batches] == [(40, 1), (40, 1), (20, 1)]
    np.testing.assert_allclose(np.concatenate([f["I2"].numpy()[:, 0] for f, _ in batches]), df["I2"].to_numpy())
    np.testing.assert_array_equal(np.concatenate([y.numpy()[:, 0] for _, y in batches]), df["label"].to_numpy())
    with pytest.raises(ValueError, match="label 'y' is not in feature_description"):
        input_fn_tfrecord("x", description, "y")


# The manual's estimator signatures (section 2.7; DeepFEFM and FwFM as in DeepCTR's estimator package).
_TAIL = ["task", "model_dir", "config", "linear_optimizer", "dnn_optimizer", "training_chief_hooks"]
SIGNATURES = {
    "CCPMEstimator": ["linear_feature_columns", "dnn_feature_columns", "conv_kernel_width", "conv_filters", "dnn_hidden_units", "l2_reg_linear", "l2_reg_embedding", "l2_reg_dnn", "dnn_dropout", "seed"],
    "FNNEstimator": ["linear_feature_columns", "dnn_feature_columns", "dnn_hidden_units", "l2_reg_embedding", "l2_reg_linear", "l2_reg_dnn", "seed", "dnn_dropout", "dnn_activation"],
    "PNNEstimator": ["dnn_feature_columns", "dnn_hidden_units", "l2_reg_embedding", "l2_reg_dnn", "seed", "dnn_dropout", "dnn_activation", "use_inner", "use_outter", "kernel_type"],
    "WDLEstimator": ["linear_feature_columns", "dnn_feature_columns", "dnn_hidden_units", "l2_reg_linear", "l2_reg_embedding", "l2_reg_dnn", "seed", "dnn_dropout", "dnn_activation"],
    "DeepFMEstimator": ["linear_feature_columns", "dnn_feature_columns", "dnn_hidden_units", "l2_reg_linear", "l2_reg_embedding", "l2_reg_dnn", "seed", "dnn_dropout", "dnn_activation", "dnn_use_bn"],
    "NFMEstimator": ["linear_feature_columns", "dnn_feature_columns", "dnn_hidden_units", "l2_reg_embedding", "l2_reg_linear", "l2_reg_dnn", "seed", "bi_dropout", "dnn_dropout", "dnn_activation"],
    "AFMEstimator": ["linear_feature_columns", "dnn_feature_columns", "use_attention", "attention_factor", "l2_reg_linear", "l2_reg_embedding", "l2_reg_att", "afm_dropout", "seed"],
    "DCNEstimator": ["linear_feature_columns", "dnn_feature_columns", "cross_num", "dnn_hidden_units", "l2_reg_linear", "l2_reg_embedding", "l2_reg_cross", "l2_reg_dnn", "seed", "dnn_dropout", "dnn_use_bn", "dnn_activation"],
    "xDeepFMEstimator": ["linear_feature_columns", "dnn_feature_columns", "dnn_hidden_units", "cin_layer_size", "cin_split_half", "cin_activation", "l2_reg_linear", "l2_reg_embedding", "l2_reg_dnn", "l2_reg_cin", "seed", "dnn_dropout", "dnn_activation", "dnn_use_bn"],
    "AutoIntEstimator": ["linear_feature_columns", "dnn_feature_columns", "att_layer_num", "att_embedding_size", "att_head_num", "att_res", "dnn_hidden_units", "dnn_activation", "l2_reg_linear", "l2_reg_embedding", "l2_reg_dnn", "dnn_use_bn", "dnn_dropout", "seed"],
    "FiBiNETEstimator": ["linear_feature_columns", "dnn_feature_columns", "bilinear_type", "reduction_ratio", "dnn_hidden_units", "l2_reg_linear", "l2_reg_embedding", "l2_reg_dnn", "seed", "dnn_dropout", "dnn_activation"],
    "DeepFEFMEstimator": ["linear_feature_columns", "dnn_feature_columns", "dnn_hidden_units", "l2_reg_linear", "l2_reg_embedding_feat", "l2_reg_embedding_field", "l2_reg_dnn", "seed", "dnn_dropout", "dnn_activation", "dnn_use_bn"],
    "FwFMEstimator": ["linear_feature_columns", "dnn_feature_columns", "dnn_hidden_units", "l2_reg_linear", "l2_reg_embedding", "l2_reg_field_strength", "l2_reg_dnn", "seed", "dnn_dropout", "dnn_activation", "dnn_use_bn"],
}


def test_the_zoo_has_the_manual_signatures():
    assert sorted(est.models.__all__) == sorted(SIGNATURES)
    for name, arguments in SIGNATURES.items():
        parameters = inspect.signature(getattr(est, name)).parameters
        assert list(parameters) == arguments + _TAIL, name
        assert parameters["linear_optimizer"].default == "Ftrl" and parameters["dnn_optimizer"].default == "Adagrad"
    assert inspect.signature(est.DeepFMEstimator).parameters["dnn_hidden_units"].default == (256, 128, 64)
    assert inspect.signature(est.CCPMEstimator).parameters["conv_kernel_width"].default == (6, 5)


# Where DeepCTR's estimator has another default than its model.
DEFAULTS_CHANGED = {("DeepFEFMEstimator", "dnn_hidden_units"): (128, 128)}


def test_every_estimator_argument_has_the_models_default():
    from ctrkit import models

    for name in SIGNATURES:
        model_parameters = inspect.signature(getattr(models, name[: -len("Estimator")])).parameters
        for parameter in inspect.signature(getattr(est, name)).parameters.values():
            if parameter.name in _TAIL[1:]:
                continue
            expected = DEFAULTS_CHANGED.get((name, parameter.name), model_parameters[parameter.name].default)
            assert parameter.default == expected, (name, parameter.name)


def test_estimator_arguments_reach_the_model_by_position_and_name(tmp_path):
    columns = _columns()[:4]
    model = est.DCNEstimator(columns, columns, 0, (4,), model_dir=tmp_path / "dcn").keras_model
    assert not any(isinstance(layer, CrossNet) for layer in model.layers)
    assert [layer.hidden_units for layer in model.layers if isinstance(layer, DNN)] == [[4]]
    with pytest.raises(TypeError, match="fm_group"):
        est.DeepFMEstimator(columns, columns, fm_group=["default_group"])
    assert est.DeepFMEstimator.__name__ == "DeepFMEstimator" and "ctrkit.models.DeepFM" in est.DeepFMEstimator.__doc__


@pytest.mark.parametrize("name", ["PNNEstimator", "FNNEstimator", "xDeepFMEstimator", "FwFMEstimator", "DeepFEFMEstimator"])
def test_estimators_train_a_step(tmp_path, criteo_frame, name):
    columns = _columns()[:4]
    kwargs = dict(dnn_hidden_units=(4,), model_dir=tmp_path / name)
    positional = (columns,) if name == "PNNEstimator" else (columns, columns)
    model = getattr(est, name)(*positional, **kwargs)
    model.train(input_fn_pandas(criteo_frame.iloc[:64], ["C1", "C2", "C5", "C6"], "label", batch_size=32))
    metrics = model.evaluate(input_fn_pandas(criteo_frame.iloc[64:128], ["C1", "C2", "C5", "C6"], "label", batch_size=64))
    assert metrics["global_step"] == 2 and math.isfinite(metrics["loss"])
    linear_vars = model.trainer.parts["linear"]
    assert (len(linear_vars) == 0) == (name in ("PNNEstimator", "FNNEstimator"))  # FNN: the DNN's logit alone
    assert isinstance(model.trainer.optimizers["dnn"], keras.optimizers.Adagrad)
    assert isinstance(model.trainer.optimizers["linear"], keras.optimizers.Ftrl)
