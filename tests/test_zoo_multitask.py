import json

import keras
import numpy as np
import pytest
from roundtrip import assert_model_roundtrip, criteo_like_columns, criteo_like_rows

from ctrkit.feature_column import DenseFeat, SparseFeat
from ctrkit.layers.core import PredictionLayer
from ctrkit.models.multitask import ESMM, MMOE, PLE, SharedBottom

TINY = {
    SharedBottom: dict(bottom_dnn_hidden_units=(16, 8), tower_dnn_hidden_units=(8,)),
    ESMM: dict(tower_dnn_hidden_units=(16, 8)),
    MMOE: dict(num_experts=2, expert_dnn_hidden_units=(16, 8), tower_dnn_hidden_units=(8,)),
    PLE: dict(expert_dnn_hidden_units=(16,), tower_dnn_hidden_units=(8,)),
}


def click_and_conversion_rows(n: int, seed: int = 0):
    """Criteo-like rows with a click label and a conversion label that needs a
    click and follows its own planted rule (on I2 and id2)."""
    x, click = criteo_like_rows(n, seed)
    rng = np.random.default_rng(seed + 1)
    logit = 4.0 * (x["I2"] - 0.5) + np.where(x["id2"] % 2 == 0, 1.5, -1.5)
    conversion = (click * (rng.random(n) < 1 / (1 + np.exp(-logit)))).astype("float32")
    return x, click, conversion


def tiny_columns():
    return [SparseFeat("user", 20, 4), SparseFeat("item", 30, 4), DenseFeat("age", 1)]


def tiny_rows(n: int = 8):
    rng = np.random.default_rng(3)
    return {
        "user": rng.integers(0, 20, (n, 1)).astype("int32"),
        "item": rng.integers(0, 30, (n, 1)).astype("int32"),
        "age": rng.random((n, 1)).astype("float32"),
    }


def read_spec(tmp_path):
    return json.loads((tmp_path / "repository" / "1" / "feature_spec.json").read_text())


@pytest.mark.parametrize("model_fn", [SharedBottom, ESMM, MMOE, PLE], ids=lambda f: f.__name__)
def test_multitask_roundtrip(model_fn, tmp_path):
    columns = criteo_like_columns()
    x, click, conversion = click_and_conversion_rows(512)
    assert 0 < conversion.sum() < click.sum() < len(click)
    model = model_fn(columns, task_names=("click", "conversion"), **TINY[model_fn])
    assert model.name == model_fn.__name__
    assert model.output_names == ["click", "conversion"]
    assert_model_roundtrip(
        model, x, [click, conversion], columns, tmp_path, loss=["binary_crossentropy", "binary_crossentropy"]
    )
    spec = read_spec(tmp_path)
    assert spec["model"]["class"] == model_fn.__name__
    assert spec["model"]["outputs"] == ["click", "conversion"]
    assert spec["model"]["tasks"] == [{"name": "click", "type": "binary"}, {"name": "conversion", "type": "binary"}]
    assert list(spec["signature"]["outputs"]) == ["click", "conversion"]


def test_mmoe_binary_and_regression(tmp_path):
    columns = criteo_like_columns()
    x, click, _ = click_and_conversion_rows(512)
    dwell = (3.0 * x["I1"] + (x["id1"] % 5)).astype("float32")
    model = MMOE(
        columns,
        task_types=["binary", "regression"],
        task_names=["click", "dwell"],
        **TINY[MMOE],
    )
    assert model.get_layer("click").task == "binary"
    assert model.get_layer("dwell").task == "regression"
    assert_model_roundtrip(model, x, [click, dwell], columns, tmp_path, loss=["binary_crossentropy", "mse"])
    spec = read_spec(tmp_path)
    assert spec["model"]["tasks"] == [{"name": "click", "type": "binary"}, {"name": "dwell", "type": "regression"}]
    assert spec["model"]["outputs"] == ["click", "dwell"]


def test_defaults_follow_deepctr():
    model = MMOE(tiny_columns())
    assert model.output_names == ["ctr", "ctcvr"]
    assert [len(model.get_layer(f"expert_{i}").hidden_units) for i in range(3)] == [2, 2, 2]
    assert model.get_layer("expert_0").hidden_units == [256, 128]
    assert model.get_layer("tower_ctr").hidden_units == [64]
    with pytest.raises(ValueError):
        model.get_layer("expert_3")
    ple = PLE(tiny_columns())
    assert ple.get_layer("level_1_expert_shared_0").hidden_units == [256]
    assert ESMM(tiny_columns()).get_layer("tower_ctr").hidden_units == [256, 128, 64]
    assert SharedBottom(tiny_columns()).get_layer("shared_bottom").hidden_units == [256, 128]


def test_three_tasks():
    names = ["click", "like", "share"]
    x = tiny_rows()
    for model_fn in (SharedBottom, MMOE, PLE):
        model = model_fn(tiny_columns(), task_types=["binary"] * 3, task_names=names, **TINY[model_fn])
        assert model.output_names == names
        outputs = model.predict(x, verbose=0)
        assert len(outputs) == 3 and all(o.shape == (8, 1) for o in outputs)


def test_dnn_options_reach_every_network():
    model = PLE(tiny_columns(), expert_dnn_hidden_units=(4,), tower_dnn_hidden_units=(4,),
                gate_dnn_hidden_units=(3,), dnn_use_bn=True, dnn_dropout=0.2, l2_reg_dnn=1e-3,
                dnn_activation="sigmoid")
    for name in ("level_0_expert_shared_0", "gate_level_0_specific_ctr", "gate_level_0_shared", "tower_ctcvr"):
        dnn = model.get_layer(name)
        assert (dnn.use_bn, dnn.dropout_rate, dnn.l2_reg, dnn.activation) == (True, 0.2, 1e-3, "sigmoid")
    assert model.get_layer("gate_level_1_specific_ctr").hidden_units == [3]
    outputs = model.predict(tiny_rows(), verbose=0)
    assert all(o.shape == (8, 1) and np.all((o > 0) & (o < 1)) for o in outputs)


def test_mmoe_gate_mixes_experts():
    """Each task's input is the softmax-gate-weighted sum of the expert outputs."""
    model = MMOE(tiny_columns(), num_experts=3, expert_dnn_hidden_units=(6,), tower_dnn_hidden_units=(4,),
                 task_names=("a", "b"))
    names = ["expert_0", "expert_1", "expert_2", "gate_softmax_a", "gate_mul_expert_a", "gate_softmax_b",
             "gate_mul_expert_b"]
    probe = keras.Model(model.inputs, [model.get_layer(n).output for n in names])
    e0, e1, e2, gate_a, mix_a, gate_b, mix_b = [np.asarray(v) for v in probe.predict(tiny_rows(), verbose=0)]
    experts = np.stack([e0, e1, e2], axis=1)
    for gate, mix in ((gate_a, mix_a), (gate_b, mix_b)):
        np.testing.assert_allclose(gate.sum(axis=1), 1.0, atol=1e-6)
        np.testing.assert_allclose(mix, np.einsum("be,bed->bd", gate, experts), atol=1e-6)
    # experts are seeded apart, so they do not start as copies of one another
    assert not np.allclose(e0, e1)
    assert not np.allclose(gate_a, gate_b)


def test_esmm_ctcvr_is_ctr_times_cvr():
    model = ESMM(tiny_columns(), tower_dnn_hidden_units=(8,), task_names=("click", "buy"))
    assert model.output_names == ["click", "buy"]
    assert isinstance(model.get_layer("click"), PredictionLayer)
    probe = keras.Model(model.inputs, [model.get_layer(n).output for n in ("click", "buy_cvr", "buy")])
    ctr, cvr, ctcvr = probe.predict(tiny_rows(), verbose=0)
    np.testing.assert_allclose(ctcvr, ctr * cvr, atol=1e-7)
    assert np.all(ctcvr <= ctr)


@pytest.mark.parametrize("num_levels", [1, 3])
def test_ple_levels(num_levels):
    model = PLE(tiny_columns(), shared_expert_num=2, specific_expert_num=1, num_levels=num_levels,
                expert_dnn_hidden_units=(4,), tower_dnn_hidden_units=(4,))
    names = {layer.name for layer in model.layers}
    for level in range(num_levels):
        assert f"level_{level}_expert_shared_1" in names
        assert f"level_{level}_task_ctr_expert_specific_0" in names
        assert f"level_{level}_task_ctcvr_expert_specific_0" in names
        # only levels that feed another level have a shared gate
        assert (f"gate_softmax_level_{level}_shared" in names) == (level < num_levels - 1)
    assert f"level_{num_levels}_expert_shared_0" not in names
    # a task gate weighs its own experts and the shared ones: 1 + 2
    assert model.get_layer("gate_softmax_level_0_specific_ctr").units == 3
    if num_levels > 1:
        # the shared gate weighs every expert: 2 tasks x 1 + 2
        assert model.get_layer("gate_softmax_level_0_shared").units == 4


@pytest.mark.parametrize(
    "model_fn, kwargs, message",
    [
        (MMOE, dict(task_types=["binary"], task_names=["ctr"]), "num_tasks must be greater than 1"),
        (SharedBottom, dict(task_types=["binary"], task_names=["a", "b"]), "same length"),
        (PLE, dict(task_types=["binary", "binary", "binary"], task_names=["a", "b"]), "same length"),
        (MMOE, dict(task_types=["binary", "multiclass"], task_names=["a", "b"]), "multiclass"),
        (MMOE, dict(task_types=["binary", "binary"], task_names=["a", "a"]), "unique"),
        (MMOE, dict(task_names="ab", task_types=["binary", "binary"]), "task_names must be a list"),
        (MMOE, dict(num_experts=1), "num_experts"),
        (ESMM, dict(task_types=["binary", "regression"]), "both be 'binary'"),
        (ESMM, dict(task_types=["binary"] * 3, task_names=["a", "b", "c"]), "exactly 2 tasks"),
        (PLE, dict(num_levels=0), "num_levels"),
        (PLE, dict(shared_expert_num=-1), "shared_expert_num"),
        (PLE, dict(specific_expert_num=1.5), "specific_expert_num"),
        (PLE, dict(shared_expert_num=0, specific_expert_num=0), "at least one expert"),
        (SharedBottom, dict(bottom_dnn_hidden_units=(8, 0)), "hidden_units"),
    ],
)
def test_argument_checks(model_fn, kwargs, message):
    with pytest.raises(ValueError, match=message):
        model_fn(tiny_columns(), **kwargs)
