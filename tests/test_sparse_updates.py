"""Sparse embedding updates: the same parameters as dense updates where the
mathematics says so (SGD, Adagrad, FTRL), lazy Adam as documented."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from ctrkit.feature_column import DenseFeat, SparseFeat
from ctrkit.models import DeepFM
from ctrkit.sparse_updates import apply_gradients, sparse_rule

VOCABULARY = 40
STEPS = 8  # 2 epochs of 4 batches


def _columns():
    return [SparseFeat(f"id{i}", VOCABULARY, 4) for i in range(3)] + [DenseFeat("d", 1)]


def _rows(n=256, seed=0):
    """Ids from the first half of each vocabulary only (the rest are never
    touched), with many repeats per batch."""
    rng = np.random.default_rng(seed)
    x = {f"id{i}": rng.integers(0, VOCABULARY // 2, n).astype("int32") for i in range(3)}
    x["d"] = rng.random(n).astype("float32")
    logit = (x["id0"] % 3 == 0) * 1.0 - (x["id1"] % 4 == 1) * 0.8 + x["d"]
    y = (rng.random(n) < 1 / (1 + np.exp(-(logit - 0.5)))).astype("float32")
    return x, y


def _train(optimizer, sparse: bool):
    keras.utils.set_random_seed(0)
    model = DeepFM(_columns(), _columns(), dnn_hidden_units=(8,), l2_reg_embedding=1e-3, seed=7)
    model.sparse_updates = sparse
    model.compile(optimizer, "binary_crossentropy")
    x, y = _rows()
    model.fit(x, y, batch_size=64, epochs=2, shuffle=False, verbose=0)
    return model, x


def _tables(model):
    return {w.path: np.array(w) for w in model.trainable_weights if "emb" in w.path}


def _slots(model):
    return [np.array(v) for v in model.optimizer.variables if "emb" in v.path]


def _touched(x):
    return np.unique(np.concatenate([x[f"id{i}"] for i in range(3)]))


@pytest.mark.parametrize(
    "make",
    [
        lambda: keras.optimizers.SGD(0.5),
        lambda: keras.optimizers.Adagrad(0.3),
        lambda: keras.optimizers.Ftrl(0.3),
    ],
    ids=["sgd", "adagrad", "ftrl"],
)
def test_sparse_updates_match_dense_updates(make):
    sparse, x = _train(make(), sparse=True)
    dense, _ = _train(make(), sparse=False)
    assert sparse_rule(sparse.optimizer) is not None
    assert int(sparse.optimizer.iterations) == int(dense.optimizer.iterations) == STEPS
    touched = _touched(x)
    ftrl = isinstance(sparse.optimizer, keras.optimizers.Ftrl)
    for path, table in _tables(sparse).items():
        expected = _tables(dense)[path]
        rows = touched if ftrl else slice(None)
        np.testing.assert_allclose(table[rows], expected[rows], rtol=1e-4, atol=1e-5, err_msg=path)
        if ftrl:
            # untouched rows keep their initial values; a dense FTRL step sets them to 0
            untouched = np.setdiff1d(np.arange(VOCABULARY), touched)
            np.testing.assert_array_equal(expected[untouched], 0)
            initial = _train_initial_table(path)
            np.testing.assert_array_equal(table[untouched], initial[untouched])
    slots = _slots(sparse)
    assert len(slots) == len(_slots(dense)) == {"SGD": 0, "Adagrad": 6, "Ftrl": 12}[type(sparse.optimizer).__name__]
    for slot, expected in zip(slots, _slots(dense)):
        if ftrl:  # the linear and accumulator slots of rows never touched agree too
            np.testing.assert_allclose(slot, expected, rtol=1e-4, atol=1e-4)
        else:
            np.testing.assert_allclose(slot, expected, rtol=1e-4, atol=1e-5)
    for a, b in zip(sparse.trainable_weights, dense.trainable_weights):
        if "emb" not in a.path:
            np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-4, atol=1e-5, err_msg=a.path)


def _train_initial_table(path):
    keras.utils.set_random_seed(0)
    model = DeepFM(_columns(), _columns(), dnn_hidden_units=(8,), l2_reg_embedding=1e-3, seed=7)
    return {w.path: np.array(w) for w in model.trainable_weights}[path]


def _lazy_adam_reference(table, grads, lr=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    """Lazy Adam on one table, in NumPy: each step moves only the rows whose
    summed gradient is present, with the bias correction of the global step."""
    table = table.copy()
    m, v = np.zeros_like(table), np.zeros_like(table)
    for step, (ids, values) in enumerate(grads, start=1):
        summed = {}
        for i, g in zip(ids, values):
            summed[i] = summed.get(i, 0) + g
        alpha = lr * np.sqrt(1 - beta_2**step) / (1 - beta_1**step)
        for i, g in summed.items():
            m[i] = m[i] + (g - m[i]) * (1 - beta_1)
            v[i] = v[i] + (g * g - v[i]) * (1 - beta_2)
            table[i] -= m[i] * alpha / (np.sqrt(v[i]) + epsilon)
    return table, m, v


def test_adam_is_lazy_on_untouched_rows_and_exact_on_touched_rows():
    rng = np.random.default_rng(1)
    initial = rng.normal(size=(10, 3)).astype("float32")
    table = keras.Variable(initial)
    optimizer = keras.optimizers.Adam(0.01)
    optimizer.build([table])
    grads = []
    for _ in range(5):
        ids = rng.choice([1, 2, 3, 5], size=6)  # repeats; rows 0, 4, 6..9 never touched
        grads.append((ids, rng.normal(size=(6, 3)).astype("float32")))
    for ids, values in grads:
        apply_gradients(optimizer, [tf.IndexedSlices(tf.constant(values), tf.constant(ids), tf.constant([10, 3]))], [table])
    expected, m, v = _lazy_adam_reference(initial, grads)
    np.testing.assert_allclose(np.array(table), expected, rtol=1e-5, atol=1e-6)
    momentum, velocity = (np.array(s) for s in optimizer.variables[2:4])
    np.testing.assert_allclose(momentum, m, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(velocity, v, rtol=1e-4, atol=1e-9)
    untouched = [0, 4, 6, 7, 8, 9]
    np.testing.assert_array_equal(np.array(table)[untouched], initial[untouched])

    # the dense update keeps moving a row after its last gradient; the lazy one does not
    dense_table = keras.Variable(initial)
    dense = keras.optimizers.Adam(0.01)
    dense.build([dense_table])
    for ids, values in grads:
        apply_gradients(dense, [tf.IndexedSlices(tf.constant(values), tf.constant(ids), tf.constant([10, 3]))], [dense_table], sparse=False)
    last_ids = set(grads[-1][0])
    earlier_only = [i for i in (1, 2, 3, 5) if i not in last_ids]
    if earlier_only:
        assert not np.allclose(np.array(dense_table)[earlier_only], np.array(table)[earlier_only])
    np.testing.assert_array_equal(np.array(dense_table)[untouched], initial[untouched])


def test_duplicate_ids_are_summed_before_the_update():
    table = keras.Variable(np.zeros((4, 1), "float32"))
    optimizer = keras.optimizers.Adagrad(1.0, initial_accumulator_value=0.0, epsilon=0.0)
    optimizer.build([table])
    grad = tf.IndexedSlices(tf.constant([[1.0], [1.0], [2.0]]), tf.constant([2, 2, 0]), tf.constant([4, 1]))
    apply_gradients(optimizer, [grad], [table])
    accumulator = np.array(optimizer.variables[-1])
    # the dense gradient of row 2 is 1 + 1 = 2, so the accumulator holds 4, not 1 + 1
    np.testing.assert_allclose(accumulator[:, 0], [4.0, 0.0, 4.0, 0.0])
    np.testing.assert_allclose(np.array(table)[:, 0], [-1.0, 0.0, -1.0, 0.0])


@pytest.mark.parametrize(
    "make",
    [
        lambda: keras.optimizers.RMSprop(0.01),
        lambda: keras.optimizers.AdamW(0.01),
        lambda: keras.optimizers.Adam(0.01, clipnorm=1.0),
    ],
    ids=["rmsprop", "adamw", "adam-clipnorm"],
)
def test_other_optimizers_get_the_dense_update(make):
    assert sparse_rule(make()) is None
    sparse, _ = _train(make(), sparse=True)
    dense, _ = _train(make(), sparse=False)
    for a, b in zip(sparse.trainable_weights, dense.trainable_weights):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-5, atol=1e-6, err_msg=a.path)


def test_embedding_gradients_stay_sparse():
    model = DeepFM(_columns(), _columns(), dnn_hidden_units=(8,), l2_reg_embedding=1e-3)
    x, y = _rows(32)
    with tf.GradientTape() as tape:
        out = model({k: tf.constant(v) for k, v in x.items()}, training=True)
        loss = keras.losses.binary_crossentropy(y[:, None], out) + sum(model.losses)
    grads = tape.gradient(loss, model.trainable_weights)
    kinds = {w.path: type(g).__name__ for w, g in zip(model.trainable_weights, grads)}
    tables = [p for p in kinds if "emb" in p]
    assert len(tables) == 6  # 3 embedding tables + 3 linear (1-d) tables
    assert all(kinds[p] == "IndexedSlices" for p in tables), kinds
