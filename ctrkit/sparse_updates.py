"""Sparse updates of embedding tables: only the rows a batch touched.

The gradient of an embedding lookup is a `tf.IndexedSlices`: the ids a
batch looked up and one gradient row per lookup. Keras 3 optimizers turn it
into a dense gradient (Adam, FTRL, SGD with momentum) or compute over the
whole table around a scatter (Adagrad), so every step costs the size of every
table. `apply_gradients` updates the rows a batch touched, with the
optimizer's own slot variables (so checkpoints, `.keras` files and a
later dense step see the same state), and hands every other gradient to the
optimizer unchanged. Duplicate ids are summed first, as the dense gradient
sums them.

What each optimizer does to the rows a batch did not touch:

| optimizer | sparse update | compared with the dense update |
|---|---|---|
| `SGD` (no momentum) | rows touched | identical: an untouched row has a zero gradient |
| `Adagrad` | rows touched | identical: a zero gradient adds nothing to the accumulator or the row |
| `Ftrl` (`l2_shrinkage_regularization_strength=0`) | rows touched | identical for every row touched at least once; a row never touched keeps its initial value, where a dense step sets it to the closed-form value of an empty history, 0 |
| `Adam` (also `amsgrad`) | lazy: moments and row move only when the row is touched | differs: a dense step decays an untouched row's moments and keeps moving the row along its first moment (LazyAdam's semantics; tf-keras' Adam, which DeepCTR uses, takes the dense step for an `IndexedSlices` gradient too) |
| `SGD` with momentum | lazy: the velocity of an untouched row is not decayed and does not move it | differs, as Adam |

Any other optimizer, an optimizer with gradient clipping, weight decay, EMA,
gradient accumulation or loss scaling, and a table with a constraint get
the dense update (the `IndexedSlices` made dense first, so duplicate ids are
summed as they must be).

Example:
    >>> import keras, numpy as np, tensorflow as tf
    >>> table = keras.Variable(np.ones((5, 2), "float32"))
    >>> optimizer = keras.optimizers.Adagrad(0.1, initial_accumulator_value=0.0)
    >>> optimizer.build([table])
    >>> grad = tf.IndexedSlices(tf.ones((2, 2)), tf.constant([1, 1]), tf.constant([5, 2]))
    >>> apply_gradients(optimizer, [grad], [table])  # row 1: gradient 1 + 1 = 2, step 0.1 * 2 / sqrt(4)
    >>> [round(float(v), 4) for v in table.numpy()[:3, 0]]
    [1.0, 0.9, 1.0]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import tensorflow as tf


def _tf_variable(variable):
    return variable.value if isinstance(variable, keras.Variable) else variable


def _slot(optimizer, slots, variable):
    return _tf_variable(slots[optimizer._get_variable_index(variable)])


def _rows(tf_var, indices):
    return tf_var.sparse_read(indices)


def _put(tf_var, indices, rows) -> None:
    tf_var.scatter_update(tf.IndexedSlices(rows, indices))


# Each rule has a `scalars(optimizer, lr, dtype)` part, computed once per step
# for all tables, and an `update(optimizer, scalars, variable, indices, grad)`
# part per table: a step touches dozens of tables, and every op costs.


def _sgd_scalars(optimizer, lr, dtype):
    return {"lr": lr, "momentum": tf.cast(optimizer.momentum, dtype)}


def _sgd(optimizer, scalars, variable, indices, grad) -> None:
    var = _tf_variable(variable)
    lr = scalars["lr"]
    if optimizer.momentum == 0:
        var.scatter_sub(tf.IndexedSlices(grad * lr, indices))
        return
    momentum = scalars["momentum"]
    m = _slot(optimizer, optimizer.momentums, variable)
    m_rows = _rows(m, indices) * momentum - grad * lr
    _put(m, indices, m_rows)
    step = m_rows * momentum - grad * lr if optimizer.nesterov else m_rows
    var.scatter_add(tf.IndexedSlices(step, indices))


def _adagrad_scalars(optimizer, lr, dtype):
    return {"lr": lr}


def _adagrad(optimizer, scalars, variable, indices, grad) -> None:
    var = _tf_variable(variable)
    accumulator = _slot(optimizer, optimizer._accumulators, variable)
    acc_rows = _rows(accumulator, indices) + tf.square(grad)
    _put(accumulator, indices, acc_rows)
    var.scatter_sub(tf.IndexedSlices(scalars["lr"] * grad / tf.sqrt(acc_rows + optimizer.epsilon), indices))


def _adam_scalars(optimizer, lr, dtype):
    local_step = tf.cast(optimizer.iterations + 1, dtype)
    beta_1 = tf.cast(optimizer.beta_1, dtype)
    beta_2 = tf.cast(optimizer.beta_2, dtype)
    alpha = lr * tf.sqrt(1 - tf.pow(beta_2, local_step)) / (1 - tf.pow(beta_1, local_step))
    return {"alpha": alpha, "beta_1": beta_1, "beta_2": beta_2}


def _adam(optimizer, scalars, variable, indices, grad) -> None:
    var = _tf_variable(variable)
    beta_1, beta_2 = scalars["beta_1"], scalars["beta_2"]
    m = _slot(optimizer, optimizer._momentums, variable)
    v = _slot(optimizer, optimizer._velocities, variable)
    m_rows = _rows(m, indices)
    m_rows = m_rows + (grad - m_rows) * (1 - beta_1)
    v_rows = _rows(v, indices)
    v_rows = v_rows + (tf.square(grad) - v_rows) * (1 - beta_2)
    _put(m, indices, m_rows)
    _put(v, indices, v_rows)
    if optimizer.amsgrad:
        v_hat = _slot(optimizer, optimizer._velocity_hats, variable)
        v_rows = tf.maximum(_rows(v_hat, indices), v_rows)
        _put(v_hat, indices, v_rows)
    var.scatter_sub(tf.IndexedSlices(m_rows * scalars["alpha"] / (tf.sqrt(v_rows) + optimizer.epsilon), indices))


def _ftrl_scalars(optimizer, lr, dtype):
    return {"lr": lr, "l2_reg": optimizer.l2_regularization_strength + optimizer.beta / (2.0 * lr)}


def _ftrl(optimizer, scalars, variable, indices, grad) -> None:
    var = _tf_variable(variable)
    accumulator = _slot(optimizer, optimizer._accumulators, variable)
    linear = _slot(optimizer, optimizer._linears, variable)
    lr, l2_reg = scalars["lr"], scalars["l2_reg"]
    lr_power = optimizer.learning_rate_power
    l1_reg = optimizer.l1_regularization_strength
    var_rows = _rows(var, indices)
    acc_rows = _rows(accumulator, indices)
    new_acc = acc_rows + tf.square(grad)
    linear_rows = _rows(linear, indices) + (
        grad - (tf.pow(new_acc, -lr_power) - tf.pow(acc_rows, -lr_power)) / lr * var_rows
    )
    quadratic = tf.pow(new_acc, -lr_power) / lr + 2 * l2_reg
    _put(linear, indices, linear_rows)
    _put(var, indices, (tf.clip_by_value(linear_rows, -l1_reg, l1_reg) - linear_rows) / quadratic)
    _put(accumulator, indices, new_acc)


_RULES: dict[type, tuple[Callable, Callable]] = {
    keras.optimizers.SGD: (_sgd_scalars, _sgd),
    keras.optimizers.Adagrad: (_adagrad_scalars, _adagrad),
    keras.optimizers.Adam: (_adam_scalars, _adam),
    keras.optimizers.Ftrl: (_ftrl_scalars, _ftrl),
}


def sparse_rule(optimizer) -> tuple[Callable, Callable] | None:
    """The row update for `optimizer` (its per-step scalars and its per-table
    update), or None when it needs dense updates.

    Only the exact classes above qualify (AdamW, a subclass of Adam, decays
    every weight), and only without options that act on every weight at
    every step."""
    rule = _RULES.get(type(optimizer))
    if rule is None:
        return None
    if any(
        getattr(optimizer, name, None)
        for name in ("clipnorm", "clipvalue", "global_clipnorm", "weight_decay", "use_ema", "gradient_accumulation_steps")
    ):
        return None
    if getattr(optimizer, "loss_scale_factor", None) is not None:
        return None
    if rule[1] is _ftrl and optimizer.l2_shrinkage_regularization_strength:
        return None
    return rule


def _unique_rows(grad: tf.IndexedSlices):
    """The distinct ids of `grad` and the sum of the gradient rows of each."""
    indices, position = tf.unique(grad.indices)
    values = tf.math.unsorted_segment_sum(grad.values, position, tf.shape(indices)[0])
    return indices, values


def apply_gradients(optimizer, grads: Sequence, variables: Sequence, sparse: bool = True) -> None:
    """`optimizer.apply(grads, variables)`, with the `tf.IndexedSlices`
    gradients applied to the rows they touch (see the module docstring).
    With `sparse=False` every `tf.IndexedSlices` is made dense first: the
    optimizer's own dense update. One optimizer step: the iteration count
    goes up by one."""
    variables = list(variables)
    if not optimizer.built:
        optimizer.build(variables)
    rule = sparse_rule(optimizer) if sparse else None
    rows, dense_grads, dense_vars = [], [], []
    for grad, variable in zip(grads, variables):
        if isinstance(grad, tf.IndexedSlices):
            if rule is not None and variable.constraint is None:
                rows.append((grad, variable))
                continue
            grad = tf.convert_to_tensor(grad)
        dense_grads.append(grad)
        dense_vars.append(variable)
    if rows:
        scalars_of, update = rule
        learning_rate = optimizer.learning_rate
        scalars: dict = {}
        with tf.name_scope(f"{optimizer.name}_sparse"):
            for grad, variable in rows:
                indices, values = _unique_rows(grad)
                dtype = _tf_variable(variable).dtype
                if dtype not in scalars:
                    scalars[dtype] = scalars_of(optimizer, tf.cast(learning_rate, dtype), dtype)
                update(optimizer, scalars[dtype], variable, indices, tf.cast(values, dtype))
    if dense_grads:
        optimizer.apply(dense_grads, dense_vars)
    else:
        optimizer.iterations.assign_add(1)
