"""CCPM, MLR, ONN, FGCNN, FLEN, IFM, DIFM, DeepFEFM and EDCN: train, save,
export and serve the same scores; regression heads; column and argument checks."""

from __future__ import annotations

import json

import numpy as np
import pytest
from roundtrip import assert_model_roundtrip, criteo_like_columns, criteo_like_rows

from ctrkit.feature_column import DenseFeat, SparseFeat
from ctrkit.models.ccpm import CCPM
from ctrkit.models.deepfefm import DeepFEFM
from ctrkit.models.difm import DIFM
from ctrkit.models.edcn import EDCN
from ctrkit.models.fgcnn import FGCNN
from ctrkit.models.flen import FLEN
from ctrkit.models.ifm import IFM
from ctrkit.models.mlr import MLR
from ctrkit.models.onn import ONN

TINY = {"dnn_hidden_units": (16, 8)}
SMALL_FGCNN = {"conv_kernel_width": (3, 3), "conv_filters": (4, 4), "new_maps": (2, 2), "pooling_width": (2, 2)}


def sparse_only(columns):
    return [fc for fc in columns if isinstance(fc, SparseFeat)]


def dense_only(columns):
    return [fc for fc in columns if isinstance(fc, DenseFeat)]


# Each model is built from the criteo-like columns; most linear parts take the
# dense columns only, which keeps the graphs (and the test) small.
BUILDERS = {
    "CCPM": lambda c, task="binary": CCPM(dense_only(c), sparse_only(c), task=task, **TINY),
    "MLR": lambda c, task="binary": MLR(c, dense_only(c), region_num=2, task=task),
    "ONN": lambda c, task="binary": ONN(dense_only(c), c, task=task, **TINY),
    "FGCNN": lambda c, task="binary": FGCNN(dense_only(c), c, task=task, **SMALL_FGCNN, **TINY),
    "FLEN": lambda c, task="binary": FLEN(dense_only(c), c, task=task, **TINY),
    "IFM": lambda c, task="binary": IFM(c, c, task=task, **TINY),  # sparse linear weights reweighted
    "DIFM": lambda c, task="binary": DIFM(dense_only(c), c, att_embedding_size=4, att_head_num=2, task=task, **TINY),
    "DeepFEFM": lambda c, task="binary": DeepFEFM(dense_only(c), c, task=task, **TINY),
    "EDCN": lambda c, task="binary": EDCN(dense_only(c), sparse_only(c), task=task),
}


def columns_for(name: str) -> list:
    """The columns the model is built from, and exported with."""
    columns = criteo_like_columns(group_names=["user", "item"] if name == "FLEN" else None)
    # ONN has one table per ordered pair of sparse features: cross 4 of them
    return columns[2:] if name == "ONN" else columns


@pytest.mark.parametrize("name", list(BUILDERS))
def test_roundtrip(name, tmp_path):
    columns = columns_for(name)
    model = BUILDERS[name](columns)
    assert model.name == name
    x, y = criteo_like_rows(512)
    assert_model_roundtrip(model, x, y, columns, tmp_path)


def test_mlr_regression_roundtrip(tmp_path):
    columns = criteo_like_columns()
    x, y = criteo_like_rows(512)
    target = 3.0 * y - 1.0
    assert_model_roundtrip(BUILDERS["MLR"](columns, task="regression"), x, target, columns, tmp_path, loss="mse")
    spec = json.loads((tmp_path / "repository" / "1" / "feature_spec.json").read_text())
    assert spec["model"]["tasks"] == [{"name": "prediction", "type": "regression"}]


@pytest.mark.parametrize("name", ["DeepFEFM", "EDCN"])
def test_regression_head_drops_the_sigmoid(name):
    """With the same weights, the binary model is the sigmoid of the regression model."""
    columns = columns_for(name)
    binary, regression = BUILDERS[name](columns), BUILDERS[name](columns, task="regression")
    rng = np.random.default_rng(0)
    # move the weights off their initial values so that every part contributes
    binary.set_weights([w + rng.normal(0, 0.3, w.shape).astype(w.dtype) for w in binary.get_weights()])
    regression.set_weights(binary.get_weights())
    x, _ = criteo_like_rows(64, seed=1)
    p_binary = binary.predict(x, verbose=0)
    p_regression = regression.predict(x, verbose=0)
    assert p_regression.shape == (64, 1)
    assert p_regression.std() > 0.05, "the comparison below needs logits spread away from 0"
    np.testing.assert_allclose(p_binary, 1 / (1 + np.exp(-p_regression)), atol=1e-5)


def _creation_order(layer) -> int:
    suffix = layer.name.rpartition("_")[2]
    return int(suffix) if suffix.isdigit() else 0


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_mlr_matches_a_numpy_mixture_of_linear_models(task):
    """region_k = softmax(x_r @ R)_k, learner_k = sigmoid(x_b @ L_k) (identity
    for regression), output = sum_k region_k * learner_k * sigmoid(x_bias @ B)."""
    region_columns = [DenseFeat("I1"), DenseFeat("I2")]
    base_columns = [DenseFeat("I2"), DenseFeat("I3"), DenseFeat("I4")]
    model = MLR(region_columns, base_columns, region_num=3, task=task, bias_feature_columns=[DenseFeat("I5")])
    linear_layers = sorted(
        (layer for layer in model.layers if layer.__class__.__name__ == "Linear"), key=_creation_order
    )
    assert [tuple(layer.kernel.shape) for layer in linear_layers] == [(2, 1)] * 3 + [(3, 1)] * 3 + [(1, 1)]
    rng = np.random.default_rng(0)
    for layer in linear_layers:
        layer.kernel.assign(rng.normal(0, 1, layer.kernel.shape).astype("float32"))
    kernels = [np.asarray(layer.kernel) for layer in linear_layers]

    x = {f"I{i}": rng.normal(size=(32, 1)).astype("float32") for i in range(1, 6)}
    x_region = np.concatenate([x["I1"], x["I2"]], axis=1)
    x_base = np.concatenate([x["I2"], x["I3"], x["I4"]], axis=1)
    region_logits = np.concatenate([x_region @ k for k in kernels[:3]], axis=1)
    region = np.exp(region_logits) / np.exp(region_logits).sum(axis=1, keepdims=True)
    learner = np.concatenate([x_base @ k for k in kernels[3:6]], axis=1)
    sigmoid = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    if task == "binary":
        learner = sigmoid(learner)
    expected = (region * learner).sum(axis=1, keepdims=True) * sigmoid(x["I5"] @ kernels[6])
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)


def grouped(columns):
    return [fc._replace(group_name="user" if i % 2 else "item") if isinstance(fc, SparseFeat) else fc
            for i, fc in enumerate(columns)]


ARGUMENT_CHECKS = {
    "CCPM-dense": (lambda c: CCPM(c, c), "CCPM does not support DenseFeat in dnn_feature_columns"),
    "EDCN-dense": (lambda c: EDCN(c, c), "EDCN does not support DenseFeat in dnn_feature_columns"),
    "CCPM-conv-lengths": (
        lambda c: CCPM(c, sparse_only(c), conv_kernel_width=(3,), conv_filters=(2, 2)),
        "conv_kernel_width must have the same length as conv_filters",
    ),
    "CCPM-conv-width": (lambda c: CCPM(c, sparse_only(c), conv_kernel_width=(3, 0)), "conv_kernel_width"),
    "EDCN-cross_num": (lambda c: EDCN(c, sparse_only(c), cross_num=0), "cross_num"),
    "EDCN-bridge_type": (lambda c: EDCN(c, sparse_only(c), bridge_type="sum"), "bridge_type"),
    "EDCN-tau": (lambda c: EDCN(c, sparse_only(c), tau=0), "tau"),
    "MLR-region_num": (lambda c: MLR(c, region_num=1), "region_num"),
    "MLR-no-columns": (lambda c: MLR([]), "region_feature_columns"),
    "MLR-task": (lambda c: MLR(c, task="ranking"), "task"),
    "ONN-one-sparse": (lambda c: ONN(c, c[:1] + dense_only(c)), "ONN needs at least 2 sparse features"),
    "FGCNN-lengths": (lambda c: FGCNN(c, c, conv_filters=(4,)), "must have the same length"),
    "FGCNN-pooling": (lambda c: FGCNN(c, c, **{**SMALL_FGCNN, "pooling_width": (4, 4)}), "pooling_width"),
    "FLEN-one-group": (lambda c: FLEN(c, c), r"FLEN needs .* at least 2 field groups"),
    "FLEN-task": (lambda c: FLEN(grouped(c), grouped(c), task="ranking"), "task"),
    "IFM-no-dnn": (lambda c: IFM(c, c, dnn_hidden_units=()), "IFM needs a non-empty dnn_hidden_units"),
    "DIFM-no-dnn": (lambda c: DIFM(c, c, dnn_hidden_units=()), "DIFM needs a non-empty dnn_hidden_units"),
    "IFM-no-sparse": (lambda c: IFM(c, dense_only(c)), "IFM needs at least one sparse feature"),
    "DIFM-linear-sparse": (lambda c: DIFM(c[1:], c), "same order"),
    "DeepFEFM-no-part": (
        lambda c: DeepFEFM(c, c, use_linear=False, use_fefm=False, dnn_hidden_units=()),
        "nothing to predict",
    ),
    "DeepFEFM-default-group": (
        lambda c: DeepFEFM(c, grouped(c)),
        "at least 2 sparse features of group 'default_group'",
    ),
}


@pytest.mark.parametrize("case", list(ARGUMENT_CHECKS))
def test_argument_checks(case):
    build, message = ARGUMENT_CHECKS[case]
    with pytest.raises(ValueError, match=message):
        build(criteo_like_columns())


@pytest.mark.parametrize(
    "build",
    [
        lambda c: CCPM(c, c),
        lambda c: ONN(c, c),
        lambda c: FGCNN(c, c, **SMALL_FGCNN),
        lambda c: FLEN(c, c),
        lambda c: IFM(c, c),
        lambda c: DIFM(c, c),
        lambda c: DeepFEFM(c, c),
        lambda c: EDCN(c, c),
    ],
    ids=["CCPM", "ONN", "FGCNN", "FLEN", "IFM", "DIFM", "DeepFEFM", "EDCN"],
)
def test_mixed_embedding_dims_are_refused(build):
    columns = [
        SparseFeat("a", 10, 4, group_name="user"),
        SparseFeat("b", 10, 8, group_name="item"),
        SparseFeat("c", 10, 4),
        SparseFeat("d", 10, 8),
    ]
    with pytest.raises(ValueError, match="same embedding_dim"):
        build(columns)
