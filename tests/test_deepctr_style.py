"""DeepCTR's own way of testing its models, run on ctrkit.

DeepCTR's model tests build each model on a handful of random rows whose
feature set is drawn at random (vocabularies and sequence lengths from 1 to
9, every pooling combiner, weighted sequences with a length input, hashed
ids, feature groups, `tf.int32` dtypes given as TensorFlow objects), then
fit with `validation_split=0.5`, `save_weights(name + "_weights.h5")`,
`load_weights`, `save_model(name + ".h5")` and `load_model(name + ".h5",
custom_objects)`. The same here, on 8 rows as DeepCTR's tests use, plus a
check that each reload predicts what the model did, for the cases the zoo's
round trip (`tests/roundtrip.py`) does not already cover.
"""

import numpy as np
import pytest
import tensorflow as tf
from keras.models import load_model, save_model

from ctrkit.feature_column import DenseFeat, SparseFeat, VarLenSparseFeat
from ctrkit.layers import custom_objects
from ctrkit.models import DCN, DIEN, DIN, DSIN, FLEN, FNN, MMOE, WDL, DeepFM

SAMPLE_SIZE = 8


def random_features(
    rng,
    n=SAMPLE_SIZE,
    sparse=1,
    dense=1,
    sequences=("sum", "mean", "max", "weight"),
    use_hash=False,
    groups=False,
    embedding_dim=4,
):
    """A random feature set and rows for it, drawn as DeepCTR's tests draw them."""
    columns, x = [], {}
    if "weight" in sequences:
        columns.append(
            VarLenSparseFeat(
                SparseFeat("weighted_seq", 2, embedding_dim),
                maxlen=3,
                length_name="weighted_seq_seq_length",
                weight_name="weight",
            )
        )
        x["weighted_seq"] = rng.integers(0, 2, (n, 3))
        x["weight"] = rng.normal(size=(n, 3, 1))
        x["weighted_seq_seq_length"] = rng.integers(1, 4, n)
    for i in range(sparse):
        group = str(i % 3) if groups else "default_group"
        columns.append(
            SparseFeat(f"sparse_feature_{i}", int(rng.integers(1, 10)), embedding_dim, use_hash=use_hash, dtype=tf.int32, group_name=group)
        )
    columns += [DenseFeat(f"dense_feature_{i}", 1, dtype=tf.float32) for i in range(dense)]
    for combiner in (s for s in sequences if s != "weight"):
        sparsefeat = SparseFeat(f"sequence_{combiner}", int(rng.integers(1, 10)), embedding_dim)
        columns.append(VarLenSparseFeat(sparsefeat, maxlen=int(rng.integers(1, 10)), combiner=combiner))
    for fc in columns:
        if isinstance(fc, SparseFeat):
            x[fc.name] = rng.integers(0, fc.vocabulary_size, n)
        elif isinstance(fc, DenseFeat):
            x[fc.name] = rng.random(n)
        elif fc.name not in x:
            x[fc.name] = rng.integers(0, fc.vocabulary_size, (n, fc.maxlen))
    return x, rng.integers(0, 2, n), columns


def _predictions(model, x):
    out = model.predict(x, verbose=0)
    return [np.asarray(o) for o in (out if isinstance(out, list) else [out])]


def check_model(model, name, x, y, tmp_path, loss="binary_crossentropy"):
    """DeepCTR's check: train and validate, save and load weights and model."""
    model.compile("adam", loss, metrics=["binary_crossentropy"])
    history = model.fit(x, y, batch_size=100, epochs=1, validation_split=0.5, verbose=0)
    assert all(np.isfinite(v).all() for v in history.history.values())
    expected = _predictions(model, x)

    weights = str(tmp_path / f"{name}_weights.h5")
    model.save_weights(weights)
    model.load_weights(weights)
    for e, a in zip(expected, _predictions(model, x)):
        np.testing.assert_allclose(a, e, atol=1e-6)

    path = str(tmp_path / f"{name}.h5")
    save_model(model, path)
    reloaded = load_model(path, custom_objects)
    for e, a in zip(expected, _predictions(reloaded, x)):
        np.testing.assert_allclose(a, e, atol=1e-6)


# name -> (builder(columns), get_test_data's arguments), as DeepCTR's model
# tests call them; the cases the model zoo's round trip does not already cover
CASES = {
    "DeepFM": (lambda c: DeepFM(c, c, dnn_hidden_units=(3,), dnn_dropout=0.5), dict(sparse=2, dense=2)),
    "DeepFM-dense-only": (lambda c: DeepFM(c, c, dnn_hidden_units=(3,)), dict(sparse=0, dense=2, sequences=())),
    "FNN": (lambda c: FNN(c, c, dnn_hidden_units=(32, 32), dnn_dropout=0.5), dict(sparse=2, dense=2)),
    "WDL-hash": (lambda c: WDL(c, c, dnn_hidden_units=(4,)), dict(sparse=2, dense=0, use_hash=True)),
    "DCN-no-cross": (lambda c: DCN(c, c, cross_num=0, dnn_hidden_units=(8,)), dict(sparse=3, dense=3)),
    "FLEN-groups": (lambda c: FLEN(c, c, dnn_hidden_units=(3,), dnn_dropout=0.5), dict(sparse=3, dense=3, groups=True)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_model(case, tmp_path):
    build, data = CASES[case]
    x, y, columns = random_features(np.random.default_rng(sorted(CASES).index(case)), **data)
    check_model(build(columns), case, x, y, tmp_path)


def test_multitask_model(tmp_path):
    x, y, columns = random_features(np.random.default_rng(1), sparse=3, dense=3, sequences=())
    model = MMOE(columns, tower_dnn_hidden_units=(4,), task_types=["binary", "binary"], task_names=["ctr", "ctcvr"])
    check_model(model, "MMOE", x, [y, y], tmp_path, loss=["binary_crossentropy", "binary_crossentropy"])


def _behaviour(use_neg=False, hash_flag=False):
    """DeepCTR's DIN/DIEN/BST toy rows: three users, items 1-3 (0 pads)."""
    columns = [
        SparseFeat("user", 3, embedding_dim=10),
        SparseFeat("gender", 2, embedding_dim=4),
        SparseFeat("item_id", 3 + 1, embedding_dim=8, use_hash=hash_flag),
        SparseFeat("cate_id", 2 + 1, embedding_dim=4, use_hash=hash_flag),
        DenseFeat("pay_score", 1),
        VarLenSparseFeat(SparseFeat("hist_item_id", 3 + 1, embedding_dim=8, embedding_name="item_id"), maxlen=4, length_name="seq_length"),
        VarLenSparseFeat(SparseFeat("hist_cate_id", 2 + 1, embedding_dim=4, embedding_name="cate_id"), maxlen=4, length_name="seq_length"),
    ]
    x = {
        "user": np.array([0, 1, 2]),
        "gender": np.array([0, 1, 0]),
        "item_id": np.array([1, 2, 3]),
        "cate_id": np.array([1, 2, 2]),
        "pay_score": np.array([0.1, 0.2, 0.3]),
        "hist_item_id": np.array([[1, 2, 3, 0], [3, 2, 1, 0], [1, 2, 0, 0]]),
        "hist_cate_id": np.array([[1, 2, 2, 0], [2, 2, 1, 0], [1, 2, 0, 0]]),
        "seq_length": np.array([3, 3, 2]),
    }
    if use_neg:
        for name, vocabulary, dim in (("item_id", 4, 8), ("cate_id", 3, 4)):
            columns.append(VarLenSparseFeat(SparseFeat(f"neg_hist_{name}", vocabulary, dim, embedding_name=name), maxlen=4, length_name="seq_length"))
            x[f"neg_hist_{name}"] = x[f"hist_{name}"][::-1].copy()
    return x, np.array([1, 0, 1]), columns


@pytest.mark.parametrize(
    "case",
    ["DIN-hash", "DIEN-GRU"],
)
def test_behaviour_model(case, tmp_path):
    x, y, columns = _behaviour(use_neg="neg" in case, hash_flag="hash" in case)
    history = ["item_id", "cate_id"]
    if case.startswith("DIN"):
        model = DIN(columns, history, dnn_hidden_units=(4, 4, 4), dnn_dropout=0.5)
    else:
        model = DIEN(columns, history, dnn_hidden_units=(4, 4, 4), dnn_dropout=0.5, gru_type=case.split("-")[1], use_negsampling="neg" in case)
    check_model(model, case, x, y, tmp_path)


def test_dsin(tmp_path):
    columns = [
        SparseFeat("user", 3, embedding_dim=8),
        SparseFeat("gender", 2, embedding_dim=8),
        SparseFeat("item", 3 + 1, embedding_dim=4),
        SparseFeat("item_gender", 2 + 1, embedding_dim=4),
        DenseFeat("score", 1),
    ]
    x = {
        "user": np.array([0, 1, 2]),
        "gender": np.array([0, 1, 0]),
        "item": np.array([1, 2, 3]),
        "item_gender": np.array([1, 2, 1]),
        "score": np.array([0.1, 0.2, 0.3]),
        "sess_length": np.array([2, 1, 0]),
    }
    sessions = {0: ([[1, 2, 3, 0], [1, 2, 3, 0], [0, 0, 0, 0]], [[1, 1, 2, 0], [2, 1, 1, 0], [0, 0, 0, 0]]),
                1: ([[1, 2, 3, 0], [0, 0, 0, 0], [0, 0, 0, 0]], [[1, 1, 2, 0], [0, 0, 0, 0], [0, 0, 0, 0]])}
    for s, (items, genders) in sessions.items():
        columns.append(VarLenSparseFeat(SparseFeat(f"sess_{s}_item", 3 + 1, 4, embedding_name="item"), maxlen=4))
        columns.append(VarLenSparseFeat(SparseFeat(f"sess_{s}_item_gender", 2 + 1, 4, embedding_name="item_gender"), maxlen=4))
        x[f"sess_{s}_item"], x[f"sess_{s}_item_gender"] = np.array(items), np.array(genders)
    model = DSIN(columns, ["item", "item_gender"], sess_max_count=2, bias_encoding=True, dnn_hidden_units=(4, 4), dnn_dropout=0.5)
    check_model(model, "DSIN", x, np.array([1, 0, 1]), tmp_path)
