"""The estimator every `ctrkit.estimator.models` function returns.

`tf.estimator` is gone from TensorFlow 2.16+. `CTREstimator` keeps the part
of its interface DeepCTR's estimators are used through — `train`,
`evaluate`, `predict`, `export_saved_model`, checkpoints in `model_dir` that
training resumes from — on a ctrkit Keras model trained by
`ctrkit.training.Trainer` under `tf.distribute`.

As in DeepCTR, the linear part's variables (those of the `linear*` layers)
are trained by `linear_optimizer` (FTRL, learning rate 0.005, by default)
and all others by `dnn_optimizer` (Adagrad, 0.01), on the batch's summed log
loss plus the regularisation losses. `evaluate` reports DeepCTR's metrics
(`AUC`, `LogLoss`, `prediction/mean`, `label/mean`; `MSE`, `MAE` for
regression), `loss` and `global_step`; `predict` yields `{"pred", "logits"}`
per row.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import os
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from ..training import distribute
from ..training.trainer import Trainer
from .feature_column import to_ctrkit_columns

logger = logging.getLogger("ctrkit.estimator")

LINEAR_PREFIX = "linear"
# DeepCTR's learning rates for optimizers given by name.
LINEAR_LEARNING_RATE = 0.005
DNN_LEARNING_RATE = 0.01
_OPTIMIZERS = {
    "adagrad": keras.optimizers.Adagrad,
    "adam": keras.optimizers.Adam,
    "ftrl": keras.optimizers.Ftrl,
    "rmsprop": keras.optimizers.RMSprop,
    "sgd": keras.optimizers.SGD,
}


@dataclass
class RunConfig:
    """Run settings, in place of `tf.estimator.RunConfig`.

    Attributes:
        model_dir: checkpoint directory (the estimator's `model_dir`
            argument wins when both are set).
        tf_random_seed: seed of the weights' initialisation.
        save_checkpoints_steps: checkpoint every this many global steps.
        save_checkpoints_secs: checkpoint every this many seconds when
            `save_checkpoints_steps` is not set (single worker; with several
            workers, checkpoints are taken by steps or at the end).
        keep_checkpoint_max: checkpoints kept.
        log_step_count_steps: log the loss and rows/s every this many steps.
        train_distribute: a `tf.distribute` strategy for training; default
            `MultiWorkerMirroredStrategy` when `TF_CONFIG` names several
            workers, else none.
    """

    model_dir: str | None = None
    tf_random_seed: int | None = None
    save_checkpoints_steps: int | None = None
    save_checkpoints_secs: float | None = 600
    keep_checkpoint_max: int = 5
    log_step_count_steps: int = 100
    train_distribute: Any = None


def get_optimizer(optimizer, default_learning_rate: float):
    """A zero-argument factory of a Keras optimizer: from a name (DeepCTR's
    default learning rate), an optimizer instance or a factory."""
    if isinstance(optimizer, str):
        cls = _OPTIMIZERS.get(optimizer.lower())
        if cls is None:
            raise ValueError(f"unknown optimizer {optimizer!r}; known: {sorted(_OPTIMIZERS)}")
        return lambda: cls(learning_rate=default_learning_rate)
    if isinstance(optimizer, keras.optimizers.Optimizer):
        return lambda: optimizer
    if callable(optimizer):
        return optimizer
    raise ValueError(f"optimizer must be a name, a Keras optimizer or a callable returning one, got {optimizer!r}")


def linear_or_dnn(variable) -> str:
    """The estimators' variable split: variables of `linear*` layers (the
    linear logit) vs everything else."""
    return "linear" if variable.path.split("/", 1)[0].startswith(LINEAR_PREFIX) else "dnn"


class CTREstimator:
    """Trains, evaluates, predicts and exports one ctrkit model.

    Arguments:
        model_fn: builds the Keras model from the converted feature columns.
        feature_columns: every ctrkit column the model uses (for export).
        model_dir: checkpoint directory; None uses `config.model_dir` or a
            new temporary directory.
        config: a `RunConfig`.
        linear_optimizer, dnn_optimizer: optimizer names, Keras optimizers or
            factories for the linear and the other variables.
        training_chief_hooks: Keras callbacks (or objects with some of
            `on_train_begin`, `on_train_batch_end`, `on_train_end`) run on
            the chief during `train`.
        name: model class name recorded in exports.
    """

    def __init__(
        self,
        model_fn: Callable[[], keras.Model],
        feature_columns: Sequence,
        *,
        model_dir: str | os.PathLike | None = None,
        config: RunConfig | None = None,
        linear_optimizer="Ftrl",
        dnn_optimizer="Adagrad",
        training_chief_hooks: Iterable | None = None,
        name: str | None = None,
    ):
        config = config if config is not None else RunConfig()
        if not isinstance(config, RunConfig):
            raise TypeError(f"config must be a ctrkit.estimator.RunConfig, got {type(config).__name__}")
        model_dir = model_dir if model_dir is not None else config.model_dir
        if model_dir is None:
            model_dir = tempfile.mkdtemp(prefix="ctrkit-estimator-")
            logger.warning("Using temporary folder as model directory: %s", model_dir)
        self.model_dir = os.fspath(model_dir)
        self.config = dataclasses.replace(config, model_dir=self.model_dir)
        self.feature_columns = list(feature_columns)
        self.name = name
        self._model_fn = model_fn
        self._optimizers = {
            "linear": get_optimizer(linear_optimizer, LINEAR_LEARNING_RATE),
            "dnn": get_optimizer(dnn_optimizer, DNN_LEARNING_RATE),
        }
        self._chief_hooks = list(training_chief_hooks or [])
        # Created now: a multi-worker strategy must exist before TensorFlow runs anything.
        self._strategy = self.config.train_distribute or distribute.strategy_from_environment()
        self._trainer: Trainer | None = None

    @property
    def trainer(self) -> Trainer:
        """The training loop (built, and restored from `model_dir`, on first use)."""
        if self._trainer is None:
            config = self.config
            self._trainer = Trainer(
                self._model_fn,
                self._optimizers,
                partition=linear_or_dnn,
                loss_reduction="sum",
                strategy=self._strategy,
                model_dir=self.model_dir,
                save_checkpoints_steps=config.save_checkpoints_steps,
                save_checkpoints_secs=None if config.save_checkpoints_steps else config.save_checkpoints_secs,
                keep_checkpoint_max=config.keep_checkpoint_max,
                log_step_count_steps=config.log_step_count_steps,
                seed=config.tf_random_seed,
            )
        return self._trainer

    @property
    def keras_model(self) -> keras.Model:
        """The trained Keras model (e.g. to `.save("model.keras")`)."""
        return self.trainer.model

    def train(self, input_fn: Callable, hooks: Iterable | None = None, steps: int | None = None, max_steps: int | None = None):
        """Train until the input ends, for `steps` more steps, or up to global
        step `max_steps`; resumes from the latest checkpoint in `model_dir`
        and checkpoints at the end. `input_fn()` (or
        `input_fn(input_context)`) returns a `tf.data.Dataset` of
        `(features, label)`. Returns the estimator."""
        self.trainer.train(input_fn, steps=steps, max_steps=max_steps, hooks=hooks or (), chief_hooks=self._chief_hooks)
        return self

    def evaluate(self, input_fn: Callable, steps: int | None = None, hooks=None, checkpoint_path: str | None = None, name=None) -> dict:
        """DeepCTR's metrics over the input (or its first `steps` batches):
        `AUC`, `LogLoss`, `prediction/mean`, `label/mean` (binary; `MSE`,
        `MAE` for regression), `loss` (the mean per-batch training loss) and
        `global_step`. `checkpoint_path` evaluates that checkpoint instead of
        the current state. `hooks` and `name` are accepted for compatibility."""
        with self._checkpoint(checkpoint_path):
            return self.trainer.evaluate(input_fn, steps)

    def predict(
        self,
        input_fn: Callable,
        predict_keys: str | Sequence[str] | None = None,
        hooks=None,
        checkpoint_path: str | None = None,
        yield_single_examples: bool = True,
    ) -> Iterator[dict[str, np.ndarray]]:
        """Yield `{"pred": array([p]), "logits": array([z])}` per row (per
        batch with `yield_single_examples=False`). For binary tasks `pred`
        is the click probability and `logits` its log-odds; for regression
        both are the prediction. The input may give labels; they are ignored."""
        keys = [predict_keys] if isinstance(predict_keys, str) else list(predict_keys or ("pred", "logits"))
        unknown = set(keys) - {"pred", "logits"}
        if unknown:
            raise ValueError(f"unknown predict_keys {sorted(unknown)}; available: ['logits', 'pred']")
        binary = self.trainer.tasks[0] == "binary"
        with self._checkpoint(checkpoint_path):
            batches = list(self.trainer.predict_batches(input_fn)) if checkpoint_path else None
        for outputs, _ in batches if batches is not None else self.trainer.predict_batches(input_fn):
            pred = outputs[0].reshape(-1, 1)
            batch = {"pred": pred}
            if "logits" in keys:
                if binary:
                    clipped = np.clip(pred.astype(np.float64), 1e-7, 1 - 1e-7)
                    batch["logits"] = np.log(clipped / (1 - clipped)).astype(np.float32)
                else:
                    batch["logits"] = pred
            batch = {k: batch[k] for k in keys}
            if not yield_single_examples:
                yield batch
                continue
            for i in range(len(pred)):
                yield {k: v[i] for k, v in batch.items()}

    def export_saved_model(
        self,
        export_dir_base: str | os.PathLike,
        serving_input_receiver_fn: Callable | None = None,
        *,
        name: str | None = None,
        **metadata: Any,
    ) -> Path | None:
        """Export the model as the next version bundle under
        `export_dir_base` (`ctrkit.export.export_model`) and return the
        version directory; None on workers other than the chief, which do
        not export. The bundle's `serving_default` signature always takes
        the raw features by name, so `serving_input_receiver_fn` is not
        needed (it is ignored, with a warning)."""
        from ..export import export_model

        if serving_input_receiver_fn is not None:
            warnings.warn(
                "serving_input_receiver_fn is ignored: the bundle's signature takes the raw features by name",
                stacklevel=2,
            )
        trainer = self.trainer
        if not trainer.chief:
            return None
        metadata.setdefault("model_class", self.name)
        metadata.setdefault("global_step", int(trainer.global_step.numpy()))
        return export_model(trainer.model, export_dir_base, self.feature_columns, name=name, **metadata)

    def latest_checkpoint(self) -> str | None:
        """Path of the newest checkpoint in `model_dir`, or None."""
        import tensorflow as tf

        return tf.train.latest_checkpoint(self.model_dir)

    def get_variable_names(self) -> list[str]:
        """Names of the variables in the latest checkpoint."""
        import tensorflow as tf

        latest = self._require_checkpoint()
        return [name for name, _ in tf.train.list_variables(latest)]

    def get_variable_value(self, name: str) -> np.ndarray:
        """A variable's value in the latest checkpoint."""
        import tensorflow as tf

        return tf.train.load_variable(self._require_checkpoint(), name)

    def _require_checkpoint(self) -> str:
        latest = self.latest_checkpoint()
        if latest is None:
            raise ValueError(f"no checkpoint in {self.model_dir}: train first")
        return latest

    @contextmanager
    def _checkpoint(self, checkpoint_path: str | None):
        """Use the weights of `checkpoint_path` inside the block, the latest ones after."""
        if checkpoint_path is None:
            yield
            return
        trainer = self.trainer
        trainer.save()
        trainer.checkpoint.restore(checkpoint_path).expect_partial()
        try:
            yield
        finally:
            trainer.checkpoint.restore(trainer.latest_checkpoint).expect_partial()


def build_estimator(
    model_name: str,
    linear_feature_columns: Sequence | None,
    dnn_feature_columns: Sequence,
    model_params: dict[str, Any],
    *,
    model_dir=None,
    config=None,
    linear_optimizer="Ftrl",
    dnn_optimizer="Adagrad",
    training_chief_hooks=None,
) -> CTREstimator:
    """A `CTREstimator` around `ctrkit.models.<model_name>`; columns may be
    ctrkit or `tf.feature_column` columns. `linear_feature_columns` is None
    for models without a linear part (PNN)."""
    from .. import models

    dnn_columns = to_ctrkit_columns(dnn_feature_columns)
    linear_columns = None if linear_feature_columns is None else to_ctrkit_columns(linear_feature_columns)

    def model_fn() -> keras.Model:
        builder = getattr(models, model_name)
        if linear_columns is None:
            return builder(dnn_columns, **model_params)
        return builder(linear_columns, dnn_columns, **model_params)

    return CTREstimator(
        model_fn,
        (linear_columns or []) + dnn_columns,
        model_dir=model_dir,
        config=config,
        linear_optimizer=linear_optimizer,
        dnn_optimizer=dnn_optimizer,
        training_chief_hooks=training_chief_hooks,
        name=model_name,
    )


# The estimator's own arguments, after the model's, with DeepCTR's defaults.
ESTIMATOR_ARGUMENTS = {
    "model_dir": None,
    "config": None,
    "linear_optimizer": "Ftrl",
    "dnn_optimizer": "Adagrad",
    "training_chief_hooks": None,
}


def estimator_for(model_name: str, *, without: Sequence[str] = (), defaults: dict[str, Any] | None = None):
    """DeepCTR's `<model_name>Estimator`, made from `ctrkit.models.<model_name>`.

    The function takes the model's arguments in the model's order, less
    `without` (those DeepCTR's estimator does not take: its signature is
    kept, so positional calls mean the same), with `defaults` where DeepCTR's
    estimator has other defaults, then `ESTIMATOR_ARGUMENTS`; it returns a
    `CTREstimator` building the model with those arguments.
    """
    from .. import models

    model = getattr(models, model_name)
    defaults = dict(defaults or {})
    model_parameters = list(inspect.signature(model).parameters.values())
    unknown = (set(without) | set(defaults)) - {p.name for p in model_parameters}
    if unknown:
        raise ValueError(f"{model_name} has no arguments {sorted(unknown)}")
    parameters = [
        p.replace(default=defaults[p.name]) if p.name in defaults else p
        for p in model_parameters
        if p.name not in without
    ]
    parameters += [
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default)
        for name, default in ESTIMATOR_ARGUMENTS.items()
    ]
    signature = inspect.Signature(parameters, return_annotation=CTREstimator)
    has_linear = "linear_feature_columns" in signature.parameters
    name = f"{model_name}Estimator"

    def estimator(*args, **kwargs) -> CTREstimator:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        own = {key: arguments.pop(key) for key in ESTIMATOR_ARGUMENTS}
        linear_columns = arguments.pop("linear_feature_columns") if has_linear else None
        dnn_columns = arguments.pop("dnn_feature_columns")
        return build_estimator(model_name, linear_columns, dnn_columns, arguments, **own)

    left_out = f", except {', '.join(f'`{n}`' for n in without)}" if without else ""
    changed = "".join(f"; `{k}` defaults to {v!r}" for k, v in defaults.items())
    estimator.__name__ = estimator.__qualname__ = name
    estimator.__signature__ = signature
    estimator.__doc__ = f"""Instantiate `ctrkit.models.{model_name}` as an estimator.

    The network takes the model's arguments{left_out} (see
    `ctrkit.models.{model_name}`){changed}, as DeepCTR's `{name}` does; the
    others configure training:

    Arguments:
        model_dir: checkpoint directory; training resumes from it.
        config: a `ctrkit.estimator.RunConfig`.
        linear_optimizer: optimizer of the linear part: a name (FTRL with
            learning rate 0.005 by default), a Keras optimizer or a factory.
        dnn_optimizer: optimizer of everything else (Adagrad, 0.01).
        training_chief_hooks: Keras callbacks run on the chief while training.

    Returns:
        A `ctrkit.estimator.CTREstimator`.
    """
    return estimator
