"""A distributed training loop with checkpoints, for file-scale training.

`Trainer` trains a Keras model from `tf.data` input functions under any
`tf.distribute` strategy of the synchronous kind (the default strategy,
`MirroredStrategy`, `MultiWorkerMirroredStrategy`), keeps a global step and
checkpoints in `model_dir` (`tf.train.CheckpointManager`), and resumes from
the latest checkpoint there. The trainable variables may be split into parts
with their own optimizers (the estimators train the linear part with FTRL
and the rest with Adagrad, as DeepCTR's do).

Input functions take an optional `tf.distribute.InputContext`
(`input_fn(input_context)`) and return a `tf.data.Dataset` of
`(features, labels)`; `ctrkit.data.pipelines` builds such datasets, sharded by
worker. Workers whose shard runs out early receive empty batches until every
worker is done, so uneven shards never deadlock the all-reduce.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from . import distribute

logger = logging.getLogger("ctrkit.training")

LOSS_REDUCTIONS = ("mean", "sum")


@dataclass
class TrainResult:
    """What one `Trainer.train` call did."""

    global_step: int
    steps: int
    rows: int
    seconds: float
    loss: float | None

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def _tf():
    import tensorflow as tf

    return tf


def output_tasks(model: keras.Model) -> list[str]:
    """`binary` or `regression` for each model output, from its prediction layer."""
    return [getattr(model.get_layer(name), "task", "binary") for name in model.output_names]


def call_input_fn(input_fn: Callable, input_context=None):
    """Call an input function with the input context when it takes one."""
    try:
        parameters = inspect.signature(input_fn).parameters
    except (TypeError, ValueError):
        parameters = {}
    if "input_context" in parameters:
        return input_fn(input_context=input_context)
    if input_context is not None and input_context.num_input_pipelines > 1:
        raise ValueError(
            "the input function must accept `input_context` to be sharded across workers "
            "(def input_fn(input_context=None): ...)"
        )
    return input_fn()


class Trainer:
    """Train, evaluate and predict a Keras model from input functions.

    Arguments:
        build_model: builds the Keras model (called once, inside the
            strategy's scope, after seeding Keras with `seed`).
        optimizers: one optimizer, or a mapping part name -> optimizer; each
            a zero-argument callable returning a Keras optimizer (called
            inside the strategy's scope, as distributed training requires),
            or an optimizer instance (for the default strategy).
        partition: maps a trainable variable to its part name (required with
            several optimizers).
        loss_reduction: `"mean"` (per-row loss averaged over the global batch,
            as `model.fit`) or `"sum"` (summed, as DeepCTR's estimators).
        strategy: a `tf.distribute` strategy; default the current one.
        model_dir: checkpoint directory; None keeps no checkpoints.
        save_checkpoints_steps: save every this many global steps.
        save_checkpoints_secs: save when this many seconds passed since the
            last save (single-worker only: workers must agree on when to
            save, which a clock cannot guarantee).
        keep_checkpoint_max: checkpoints kept.
        log_step_count_steps: log the loss and rows/s every this many steps.
        seed: Keras random seed before building.
    """

    def __init__(
        self,
        build_model: Callable[[], keras.Model],
        optimizers,
        *,
        partition: Callable[[Any], str] | None = None,
        loss_reduction: str = "mean",
        strategy=None,
        model_dir: str | os.PathLike | None = None,
        save_checkpoints_steps: int | None = None,
        save_checkpoints_secs: float | None = None,
        keep_checkpoint_max: int = 5,
        log_step_count_steps: int | None = 100,
        seed: int | None = None,
    ):
        tf = _tf()
        if loss_reduction not in LOSS_REDUCTIONS:
            raise ValueError(f"loss_reduction must be one of {LOSS_REDUCTIONS}, got {loss_reduction!r}")
        if not isinstance(optimizers, Mapping):
            optimizers = {"all": optimizers}
        if partition is None:
            if len(optimizers) > 1:
                raise ValueError("partition is required with several optimizers")
            partition = functools.partial(_only_part, next(iter(optimizers)))
        for name, value in (("save_checkpoints_steps", save_checkpoints_steps), ("keep_checkpoint_max", keep_checkpoint_max)):
            if value is not None and int(value) < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        self.strategy = strategy or tf.distribute.get_strategy()
        self.loss_reduction = loss_reduction
        self.model_dir = None if model_dir is None else os.fspath(model_dir)
        self.save_checkpoints_steps = save_checkpoints_steps
        self.save_checkpoints_secs = save_checkpoints_secs
        self.log_step_count_steps = log_step_count_steps
        self.multi_worker = isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy) and (
            distribute.is_multi_worker()
        )
        self.chief = distribute.is_chief() if self.multi_worker else True
        with self.strategy.scope():
            if seed is not None:
                keras.utils.set_random_seed(int(seed))
            self.model = build_model()
            self.optimizers = {
                name: opt if isinstance(opt, keras.optimizers.Optimizer) else opt()
                for name, opt in optimizers.items()
            }
            self.parts: dict[str, list] = {name: [] for name in self.optimizers}
            for variable in self.model.trainable_variables:
                part = partition(variable)
                if part not in self.parts:
                    raise ValueError(f"partition put variable {variable.path!r} in unknown part {part!r}")
                self.parts[part].append(variable)
            for name, variables in self.parts.items():
                if variables:
                    self.optimizers[name].build(variables)
            self.global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        self.tasks = output_tasks(self.model)
        # Keras 3 models are not checkpoint dependencies of their variables:
        # list them (in their deterministic build order), non-trainable ones included.
        self.checkpoint = tf.train.Checkpoint(
            model_variables=list(self.model.variables),
            global_step=self.global_step,
            **{f"{name}_optimizer": opt for name, opt in self.optimizers.items()},
        )
        self._manager = None
        if self.model_dir is not None:
            directory = self.model_dir if self.chief else os.path.join(self.model_dir, f".{distribute.task_name()}")
            self._manager = tf.train.CheckpointManager(self.checkpoint, directory, max_to_keep=int(keep_checkpoint_max))
            latest = tf.train.latest_checkpoint(self.model_dir)
            if latest:
                self.checkpoint.restore(latest).assert_existing_objects_matched()
                logger.info("restored %s (global step %d)", latest, int(self.global_step.numpy()))
        self._train_step = None
        self._train_spec = None
        self._predict_step = None

    # ------------------------------------------------------------------ helpers

    def adapt_features(self, features: Mapping[str, Any]) -> dict[str, Any]:
        """Model inputs from a features dict: each cast to its input's dtype
        and reshaped to its rank (`(batch,)` becomes `(batch, 1)`)."""
        tf = _tf()
        out = {}
        for tensor in self.model.inputs:
            name = tensor.name
            if name not in features:
                raise KeyError(f"the input function gives no feature {name!r} (it gives {sorted(features)})")
            x = tf.convert_to_tensor(features[name])
            dtype = tf.as_dtype(tensor.dtype)
            if dtype == tf.string and x.dtype != tf.string:
                x = tf.strings.as_string(x)
            elif dtype != tf.string and x.dtype == tf.string:
                x = tf.strings.to_number(x, tf.float64)
            if x.dtype != dtype:
                x = tf.cast(x, dtype)
            out[name] = tf.reshape(x, [-1, *tensor.shape[1:]])
        return out

    def _labels(self, labels) -> list:
        tf = _tf()
        if isinstance(labels, Mapping):
            labels = [labels[name] for name in self.model.output_names]
        elif not isinstance(labels, (list, tuple)):
            labels = [labels]
        if len(labels) != len(self.tasks):
            raise ValueError(f"the model has {len(self.tasks)} outputs but the input function gives {len(labels)} labels")
        return [tf.reshape(tf.cast(y, tf.float32), [-1]) for y in labels]

    def _outputs(self, features, training: bool) -> list:
        tf = _tf()
        outputs = self.model(self.adapt_features(features), training=training)
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        return [tf.reshape(tf.cast(p, tf.float32), [-1]) for p in outputs]

    def _row_losses(self, labels, outputs):
        tf = _tf()
        total = None
        for task, y, p in zip(self.tasks, labels, outputs):
            if task == "binary":
                loss = keras.losses.binary_crossentropy(y[:, None], p[:, None])
            else:
                loss = tf.square(y - p)
            total = loss if total is None else total + loss
        return total

    def _global_rows(self, rows):
        """Rows of the global batch, from this replica's rows."""
        return _tf().distribute.get_replica_context().all_reduce("SUM", rows)

    def _replica_step(self, features, labels):
        """One replica's forward and backward pass and update; returns its loss and rows."""
        tf = _tf()
        labels = self._labels(labels)
        rows = tf.shape(labels[0])[0]
        global_rows = self._global_rows(rows)
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(self._row_losses(labels, self._outputs(features, training=True)))
            if self.loss_reduction == "mean":
                loss = tf.math.divide_no_nan(loss, tf.cast(global_rows, loss.dtype))
            if self.model.losses:
                loss += tf.add_n(self.model.losses) / self.strategy.num_replicas_in_sync
        parts = [(self.optimizers[name], variables) for name, variables in self.parts.items() if variables]
        gradients = tape.gradient(loss, [v for _, vs in parts for v in vs])
        start = 0
        for optimizer, variables in parts:
            optimizer.apply_gradients(zip(gradients[start : start + len(variables)], variables))
            start += len(variables)
        return loss, rows

    def _build_train_step(self, element_spec):
        tf = _tf()
        strategy = self.strategy

        # A fixed signature: short and empty batches (a worker whose shard ran
        # out) must not retrace the step, which all workers would wait for.
        @tf.function(input_signature=[element_spec])
        def train_step(batch):
            features, labels = batch
            loss, rows = strategy.run(self._replica_step, args=(features, labels))
            self.global_step.assign_add(1)
            return strategy.reduce("SUM", loss, axis=None), strategy.reduce("SUM", rows, axis=None)

        return train_step

    def save(self) -> str | None:
        """Write a checkpoint now (every worker must call it under
        `MultiWorkerMirroredStrategy`; only the chief's stays)."""
        if self._manager is None:
            return None
        path = self._manager.save(checkpoint_number=int(self.global_step.numpy()))
        if not self.chief:
            shutil.rmtree(self._manager.directory, ignore_errors=True)
            return None
        return path

    def barrier(self) -> None:
        """Wait until every worker calls this (a no-op on a single worker)."""
        if not self.multi_worker:
            return
        tf = _tf()

        @tf.function
        def all_reduce():
            return self.strategy.run(lambda: tf.distribute.get_replica_context().all_reduce("SUM", tf.ones([])))

        all_reduce()

    @property
    def latest_checkpoint(self) -> str | None:
        return _tf().train.latest_checkpoint(self.model_dir) if self.model_dir else None

    # ------------------------------------------------------------------ train

    def train(
        self,
        input_fn: Callable,
        steps: int | None = None,
        max_steps: int | None = None,
        hooks: Iterable = (),
        chief_hooks: Iterable = (),
    ) -> TrainResult:
        """Train until the input ends, `steps` more steps, or global step
        `max_steps`, whichever comes first; checkpoint at the end.

        `hooks` (every worker) and `chief_hooks` (the chief only) are Keras
        callbacks or any objects with some of `on_train_begin(logs)`,
        `on_train_batch_end(global_step, logs)` and `on_train_end(logs)`;
        `logs` holds `loss`, `global_step` and the step's `rows`. A hook may stop training by
        setting `model.stop_training = True` (as Keras callbacks do).
        """
        for name, value in (("steps", steps), ("max_steps", max_steps)):
            if value is not None and int(value) < 1:
                raise ValueError(f"{name} must be >= 1 or None, got {value}")
        start_step = int(self.global_step.numpy())
        limit = math.inf
        if steps is not None:
            limit = start_step + int(steps)
        if max_steps is not None:
            limit = min(limit, int(max_steps))
        callbacks = list(hooks) + (list(chief_hooks) if self.chief else [])
        for callback in callbacks:
            if hasattr(callback, "set_model"):
                callback.set_model(self.model)
        self.model.stop_training = False
        if start_step >= limit:
            return TrainResult(start_step, 0, 0, 0.0, None)
        dataset = self.strategy.distribute_datasets_from_function(lambda ctx: call_input_fn(input_fn, ctx))
        if self._train_step is None or self._train_spec != dataset.element_spec:
            self._train_step = self._build_train_step(dataset.element_spec)
            self._train_spec = dataset.element_spec
        _call(callbacks, "on_train_begin", {})
        started = last_save = last_log = time.perf_counter()
        rows = log_rows = 0
        step = start_step
        loss = None
        saved_at = None
        for batch in dataset:
            loss_t, rows_t = self._train_step(batch)
            loss, batch_rows = float(loss_t), int(rows_t)
            step = int(self.global_step.numpy())
            rows += batch_rows
            log_rows += batch_rows
            if not math.isfinite(loss):
                raise FloatingPointError(f"the training loss is {loss} at global step {step}")
            logs = {"loss": loss, "global_step": step, "rows": batch_rows}
            _call(callbacks, "on_train_batch_end", step, logs)
            now = time.perf_counter()
            if self.log_step_count_steps and step % int(self.log_step_count_steps) == 0:
                logger.info("global_step=%d loss=%.5f rows/s=%.0f", step, loss, log_rows / max(now - last_log, 1e-9))
                last_log, log_rows = now, 0
            if self._should_save(step, now - last_save):
                self.save()
                saved_at, last_save = step, time.perf_counter()
            if step >= limit or self.model.stop_training:
                break
        if saved_at != step:
            self.save()
        seconds = time.perf_counter() - started
        _call(callbacks, "on_train_end", {"loss": loss, "global_step": step})
        return TrainResult(step, step - start_step, rows, seconds, loss)

    def _should_save(self, step: int, since_last_save: float) -> bool:
        if self._manager is None:
            return False
        if self.save_checkpoints_steps and step % int(self.save_checkpoints_steps) == 0:
            return True
        return bool(not self.multi_worker and self.save_checkpoints_secs and since_last_save >= self.save_checkpoints_secs)

    # ------------------------------------------------------------------ evaluate / predict

    def predict_batches(self, input_fn: Callable, steps: int | None = None) -> Iterator[tuple[list[np.ndarray], Any]]:
        """`(outputs, labels)` per batch on this worker (labels None when the
        input function gives features only); outputs are 1-D arrays."""
        tf = _tf()
        if self._predict_step is None:
            self._predict_step = tf.function(
                lambda features: self._outputs(features, training=False), reduce_retracing=True
            )
        for i, element in enumerate(call_input_fn(input_fn, None)):
            if steps is not None and i >= int(steps):
                break
            if isinstance(element, (tuple, list)) and len(element) == 2:
                features, labels = element
                labels = [y.numpy() for y in self._labels(labels)]
            else:
                features, labels = element, None
            yield [p.numpy() for p in self._predict_step(features)], labels

    def evaluate(self, input_fn: Callable, steps: int | None = None) -> dict[str, float]:
        """Metrics over the input (or its first `steps` batches) on this worker:
        per output `AUC`, `LogLoss` (binary) or `MSE`, `MAE` (regression),
        `prediction/mean`, `label/mean`; `loss` (the mean per-batch training
        objective) and `global_step`. Names get an `<output>/` prefix when the
        model has several outputs. The evaluated predictions are held in
        memory (8 bytes per row and output) for an exact AUC."""
        from ..data.metrics import log_loss, roc_auc_score

        predictions: list[list[np.ndarray]] = [[] for _ in self.tasks]
        labels: list[list[np.ndarray]] = [[] for _ in self.tasks]
        batch_losses = []
        # Weight penalties only: losses a layer adds while running in training
        # mode (the embedding penalty) are left from the traced training step
        # as graph tensors, and evaluation does not count them.
        regularization = float(sum(float(x) for x in self.model.losses if hasattr(x, "numpy")))
        for outputs, ys in self.predict_batches(input_fn, steps):
            if ys is None:
                raise ValueError("evaluate needs an input function that gives labels")
            batch_loss = 0.0
            for i, (task, p, y) in enumerate(zip(self.tasks, outputs, ys)):
                predictions[i].append(p)
                labels[i].append(y)
                if task == "binary":
                    q = np.clip(p.astype(np.float64), 1e-7, 1 - 1e-7)
                    row = -(y * np.log(q) + (1 - y) * np.log(1 - q))
                else:
                    row = (y - p) ** 2
                batch_loss += float(row.mean() if self.loss_reduction == "mean" else row.sum())
            batch_losses.append(batch_loss + regularization)
        if not batch_losses:
            raise ValueError("the evaluation input is empty")
        metrics: dict[str, float] = {}
        names = self.model.output_names
        for i, task in enumerate(self.tasks):
            prefix = f"{names[i]}/" if len(self.tasks) > 1 else ""
            p, y = np.concatenate(predictions[i]), np.concatenate(labels[i])
            if task == "binary":
                both = 0 < y.sum() < len(y)
                metrics[f"{prefix}AUC"] = float(roc_auc_score(y, p)) if both else float("nan")
                metrics[f"{prefix}LogLoss"] = float(log_loss(y, p))
            else:
                metrics[f"{prefix}MSE"] = float(np.mean((y - p) ** 2))
                metrics[f"{prefix}MAE"] = float(np.mean(np.abs(y - p)))
            metrics[f"{prefix}prediction/mean"] = float(p.mean())
            metrics[f"{prefix}label/mean"] = float(y.mean())
        metrics["loss"] = float(np.mean(batch_losses))
        metrics["global_step"] = int(self.global_step.numpy())
        return metrics


def _only_part(part: str, variable) -> str:
    return part


def _call(callbacks: Sequence, method: str, *args) -> None:
    for callback in callbacks:
        fn = getattr(callback, method, None)
        if fn is not None:
            fn(*args)


class ParameterServerTrainer(Trainer):
    """`Trainer` for `tf.distribute.ParameterServerStrategy`, run on the coordinator.

    Variables (embedding tables included) live on the parameter servers,
    placed whole and round-robin, so the tables together may exceed one
    machine's memory while each fits one server; workers pull the rows a
    batch needs and push gradients, asynchronously. The coordinator process
    builds this trainer and schedules steps on the workers through a
    `tf.distribute.coordinator.ClusterCoordinator`.

    Keras 3 variables cannot be partitioned (`variable_partitioner`
    produces `ShardedVariable`s, which Keras' variable wrapper cannot take
    gradients of): create the strategy without one.

    The input function must repeat (each worker reads its own dataset,
    `num_epochs=None`); `train` runs a fixed number of `steps`. Evaluation and
    prediction run on the coordinator.
    """

    def __init__(self, build_model: Callable[[], keras.Model], optimizers, *, strategy, **kwargs):
        tf = _tf()
        if not isinstance(strategy, tf.distribute.ParameterServerStrategy):
            raise ValueError(f"strategy must be a tf.distribute.ParameterServerStrategy, got {type(strategy).__name__}")
        if getattr(strategy.extended, "_variable_partitioner", None) is not None:
            raise ValueError("create the ParameterServerStrategy without a variable_partitioner (see the class docstring)")
        super().__init__(build_model, optimizers, strategy=strategy, **kwargs)
        self.coordinator = tf.distribute.coordinator.ClusterCoordinator(strategy)

    def _global_rows(self, rows):
        return rows

    def train(self, input_fn: Callable, steps: int | None = None, max_steps: int | None = None, hooks=(), chief_hooks=()) -> TrainResult:
        """Schedule `steps` more steps (or up to global step `max_steps`) on
        the workers, wait for them, and checkpoint. Hooks see the end only
        (`on_train_begin`, `on_train_end`): steps run asynchronously."""
        tf = _tf()
        start_step = int(self.global_step.numpy())
        targets = [int(v) for v in (start_step + int(steps) if steps else None, max_steps) if v is not None]
        if not targets:
            raise ValueError("ParameterServerTrainer.train needs steps or max_steps")
        count = min(targets) - start_step
        callbacks = list(hooks) + list(chief_hooks)
        if count <= 0:
            return TrainResult(start_step, 0, 0, 0.0, None)
        strategy = self.strategy

        @tf.function
        def per_worker_dataset():
            return strategy.distribute_datasets_from_function(lambda ctx: call_input_fn(input_fn, ctx))

        iterator = iter(self.coordinator.create_per_worker_dataset(per_worker_dataset))

        @tf.function
        def step(iterator):
            features, labels = next(iterator)
            loss, rows = strategy.run(self._replica_step, args=(features, labels))
            self.global_step.assign_add(1)
            return loss, rows

        _call(callbacks, "on_train_begin", {})
        started = time.perf_counter()
        results = [self.coordinator.schedule(step, args=(iterator,)) for _ in range(count)]
        self.coordinator.join()
        seconds = time.perf_counter() - started
        rows = sum(int(r.fetch()[1]) for r in results)
        loss = float(results[-1].fetch()[0])
        step_now = int(self.global_step.numpy())
        self.save()
        _call(callbacks, "on_train_end", {"loss": loss, "global_step": step_now})
        return TrainResult(step_now, step_now - start_step, rows, seconds, loss)
