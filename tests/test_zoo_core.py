"""The core model zoo: every model trains, predicts, survives `.keras` save/reload
and export, and checks its own arguments."""

import keras
import numpy as np
import pytest
from roundtrip import assert_model_roundtrip, criteo_like_columns, criteo_like_rows

from ctrkit.feature_column import DenseFeat, SparseFeat
from ctrkit.layers.core import PredictionLayer
from ctrkit.layers.interaction.dot_interaction import DotInteraction
from ctrkit.models.afm import AFM
from ctrkit.models.autoint import AutoInt
from ctrkit.models.ctr_model import CTRModel
from ctrkit.models.dcn import DCN
from ctrkit.models.dcnmix import DCNMix
from ctrkit.models.deepfm import DeepFM
from ctrkit.models.dlrm import DLRM
from ctrkit.models.fibinet import FiBiNET
from ctrkit.models.fnn import FNN
from ctrkit.models.fwfm import FwFM
from ctrkit.models.nfm import NFM
from ctrkit.models.pnn import PNN
from ctrkit.models.wdl import WDL
from ctrkit.models.xdeepfm import xDeepFM

DNN = (16, 8)


def _sparse(columns):
    return [fc for fc in columns if isinstance(fc, SparseFeat)]


# name -> builder(columns, task): tiny settings that still take every part of the model.
BUILDERS = {
    "DeepFM": lambda c, task: DeepFM(c, c, dnn_hidden_units=DNN, task=task),
    "FNN": lambda c, task: FNN(c, c, dnn_hidden_units=DNN, task=task),
    "PNN": lambda c, task: PNN(c, dnn_hidden_units=DNN, use_inner=True, use_outter=True, kernel_type="vec", task=task),
    "WDL": lambda c, task: WDL(c, c, dnn_hidden_units=DNN, task=task),
    "NFM": lambda c, task: NFM(c, c, dnn_hidden_units=DNN, bi_dropout=0.1, task=task),
    "AFM": lambda c, task: AFM(c, _sparse(c), attention_factor=4, afm_dropout=0.1, task=task),
    "DCN": lambda c, task: DCN(c, c, cross_num=2, dnn_hidden_units=DNN, task=task),
    "DCNMix": lambda c, task: DCNMix(c, c, cross_num=2, dnn_hidden_units=DNN, low_rank=4, num_experts=2, task=task),
    "xDeepFM": lambda c, task: xDeepFM(c, c, dnn_hidden_units=DNN, cin_layer_size=(8, 4), task=task),
    "AutoInt": lambda c, task: AutoInt(
        c, c, att_layer_num=2, att_embedding_size=4, att_head_num=2, dnn_hidden_units=DNN, task=task
    ),
    "FwFM": lambda c, task: FwFM(c, c, dnn_hidden_units=DNN, task=task),
    "FiBiNET": lambda c, task: FiBiNET(c, c, bilinear_type="interaction", dnn_hidden_units=DNN, task=task),
    "DLRM": lambda c, task: DLRM(c, bottom_dnn_hidden_units=(8,), top_dnn_hidden_units=DNN, task=task),
}


@pytest.mark.parametrize("name", list(BUILDERS))
def test_model_roundtrip(name, tmp_path):
    columns = criteo_like_columns()
    x, y = criteo_like_rows(512)
    model = BUILDERS[name](columns, "binary")
    assert model.name == name
    assert model.output_shape == (None, 1)
    assert_model_roundtrip(model, x, y, columns, tmp_path)


@pytest.mark.parametrize("name", ["WDL", "DLRM"])
def test_regression_task(name, tmp_path):
    columns = criteo_like_columns()
    x, y = criteo_like_rows(256, seed=1)
    target = (3.0 * y + x["I1"]).astype("float32")
    model = BUILDERS[name](columns, "regression")
    model.compile("adam", "mse")
    history = model.fit(x, target, batch_size=64, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])

    # The regression head adds the global bias and nothing else: no sigmoid.
    head = model.layers[-1]
    assert isinstance(head, PredictionLayer) and head.task == "regression"
    predicted = model.predict(x, verbose=0)
    logit = CTRModel(model.inputs, head.input).predict(x, verbose=0)
    bias = keras.ops.convert_to_numpy(head.global_bias)
    assert bias[0] != 0
    np.testing.assert_allclose(predicted, logit + bias, atol=1e-6)

    model.save(tmp_path / "model.keras")
    reloaded = keras.models.load_model(tmp_path / "model.keras")
    assert reloaded.layers[-1].task == "regression"
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), predicted, atol=1e-6)


def test_dlrm_interacts_bottom_output_with_every_embedding():
    # Embeddings of unit scale, so that the dot products are far above float32 round-off.
    columns = [
        fc._replace(embeddings_initializer=keras.initializers.RandomNormal(stddev=1.0, seed=i))
        if isinstance(fc, SparseFeat)
        else fc
        for i, fc in enumerate(criteo_like_columns(embedding_dim=4))
    ]
    x, _ = criteo_like_rows(32)
    model = DLRM(columns, bottom_dnn_hidden_units=(8,), top_dnn_hidden_units=(6,))
    dot = next(layer for layer in model.layers if isinstance(layer, DotInteraction))
    n_vectors = len(_sparse(columns)) + 1
    assert len(dot.input) == n_vectors
    assert dot.output.shape == (None, n_vectors * (n_vectors - 1) // 2)

    probe = CTRModel(model.inputs, [*dot.input, dot.output])
    *vectors, interactions = probe.predict(x, verbose=0)
    bottom = vectors[0]
    assert bottom.shape == (32, 4)
    # The first vector is the bottom MLP's output: it reads the dense values only.
    other_dense = probe.predict({**x, "I1": x["I1"] + 1.0}, verbose=0)[0]
    other_sparse = probe.predict({**x, "C1": np.roll(x["C1"], 1)}, verbose=0)[0]
    assert not np.allclose(other_dense, bottom)
    np.testing.assert_array_equal(other_sparse, bottom)
    expected = [np.sum(vectors[i] * vectors[j], axis=1) for i in range(n_vectors) for j in range(i)]
    np.testing.assert_allclose(interactions, np.stack(expected, axis=1), rtol=1e-5, atol=1e-5)


def test_dlrm_without_dense_features_interacts_embeddings_only():
    columns = _sparse(criteo_like_columns())
    model = DLRM(columns, bottom_dnn_hidden_units=(8,), top_dnn_hidden_units=(6,))
    dot = next(layer for layer in model.layers if isinstance(layer, DotInteraction))
    assert len(dot.input) == len(columns)
    x, _ = criteo_like_rows(8)
    assert model.predict({fc.name: x[fc.name] for fc in columns}, verbose=0).shape == (8, 1)


def test_dlrm_rejects_unequal_embedding_dims():
    columns = [SparseFeat("a", 10, 4), SparseFeat("b", 10, 8), DenseFeat("d")]
    with pytest.raises(ValueError, match=r"embedding_dim.*'a': 4.*'b': 8"):
        DLRM(columns)


@pytest.mark.parametrize(
    "columns, kwargs, match",
    [
        ([SparseFeat("a", 10, 4)], {}, "at least two vectors"),
        ([DenseFeat("d")], {}, "at least one SparseFeat"),
        ([SparseFeat("a", 10, 4), DenseFeat("d")], {"bottom_dnn_hidden_units": (8, 0)}, "bottom_dnn_hidden_units"),
        ([SparseFeat("a", 10, 4), DenseFeat("d")], {"top_dnn_hidden_units": "64"}, "top_dnn_hidden_units"),
    ],
)
def test_dlrm_argument_checks(columns, kwargs, match):
    with pytest.raises(ValueError, match=match):
        DLRM(columns, **kwargs)


def test_afm_rejects_dense_features_in_dnn_columns():
    columns = criteo_like_columns()
    with pytest.raises(ValueError, match="DenseFeat"):
        AFM(columns, columns)


@pytest.mark.parametrize("model", [AFM, FwFM])
def test_fm_group_must_name_a_group(model):
    columns = _sparse(criteo_like_columns(group_names=["user", "item"]))
    with pytest.raises(ValueError, match="fm_group"):
        model(columns, columns, fm_group=["ad"])
    # A group name given as a plain string is one group, not its characters.
    assert model(columns, columns, fm_group="user").output_shape == (None, 1)


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda c: PNN(c, kernel_type="matrix"), "kernel_type"),
        (lambda c: DCN(c, c, cross_num=0, dnn_hidden_units=()), "cross_num"),
        (lambda c: DCN(c, c, cross_num=-1), "cross_num"),
        (lambda c: DCNMix(c, c, cross_num=0, dnn_hidden_units=()), "cross_num"),
        (lambda c: AutoInt(c, c, att_layer_num=0, dnn_hidden_units=()), "att_layer_num"),
        (lambda c: NFM(c, c, bi_dropout=1.0), "bi_dropout"),
        (lambda c: xDeepFM(c, c, cin_layer_size=(7, 4)), "layer_size"),
        (lambda c: FiBiNET(c, c, bilinear_type="pairwise"), "bilinear_type"),
        (lambda c: WDL(c, c, task="multiclass"), "task"),
    ],
    ids=["pnn-kernel", "dcn-empty", "dcn-negative", "dcnmix-empty", "autoint-empty", "nfm-dropout",
         "xdeepfm-cin", "fibinet-bilinear", "wdl-task"],
)
def test_argument_checks(build, match):
    with pytest.raises(ValueError, match=match):
        build(criteo_like_columns())


@pytest.mark.parametrize(
    "build, present, absent",
    [
        (lambda c: DCN(c, c, cross_num=0, dnn_hidden_units=DNN), "DNN", "CrossNet"),
        (lambda c: DCN(c, c, cross_num=2, dnn_hidden_units=()), "CrossNet", "DNN"),
        (lambda c: DCNMix(c, c, cross_num=2, dnn_hidden_units=(), low_rank=4), "CrossNetMix", "DNN"),
        (lambda c: AutoInt(c, c, att_layer_num=1, dnn_hidden_units=()), "InteractingLayer", "DNN"),
        (lambda c: AutoInt(c, c, att_layer_num=0, dnn_hidden_units=DNN), "DNN", "InteractingLayer"),
        (lambda c: xDeepFM(c, c, cin_layer_size=(), dnn_hidden_units=DNN), "DNN", "CIN"),
        (lambda c: FwFM(c, c, dnn_hidden_units=()), "FwFMLayer", "DNN"),
        (lambda c: AFM(c, _sparse(c), use_attention=False), "FM", "AFMLayer"),
        (lambda c: PNN(c, use_inner=False, use_outter=False), "DNN", "InnerProductLayer"),
    ],
    ids=["dcn-deep", "dcn-cross", "dcnmix-cross", "autoint-attention", "autoint-deep", "xdeepfm-no-cin",
         "fwfm-no-dnn", "afm-plain-fm", "pnn-no-products"],
)
def test_optional_parts(build, present, absent):
    kinds = {type(layer).__name__ for layer in build(criteo_like_columns()).layers}
    assert present in kinds and absent not in kinds
