"""Train a model from a YAML spec and export it as the next bundle version.

A spec (`models/<name>/spec.yaml`) says where the rows come from, which
feature columns to build, which model with which hyperparameters, and how to
train. `ctrkit train` runs it; see README for the format.
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from ..data.frame_inputs import model_input
from ..feature_column import DenseFeat, SparseFeat, VarLenSparseFeat

SYNTHETIC_GENERATORS = ("criteo", "avazu", "movielens", "census")
FILE_FORMATS = ("criteo", "avazu", "movielens", "census", "csv", "parquet")


class SpecError(ValueError):
    """The spec is invalid; the message names the offending key."""


@dataclass
class TrainingSpec:
    name: str
    directory: Path
    data: dict[str, Any]
    label: list[str]
    features: list[dict[str, Any]]
    model_class: str
    model_params: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> TrainingSpec:
        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise SpecError(f"{path}: not valid YAML: {exc}") from None
        if not isinstance(raw, dict):
            raise SpecError(f"{path}: expected a mapping at the top level")
        return cls.from_dict(raw, path.parent)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], directory: Path) -> TrainingSpec:
        for key in ("data", "features", "model"):
            if key not in raw:
                raise SpecError(f"spec is missing the {key!r} section")
        unknown = set(raw) - {"name", "data", "label", "features", "model", "training", "defaults"}
        if unknown:
            raise SpecError(f"spec has unknown top-level keys {sorted(unknown)}")
        model = raw["model"]
        if not isinstance(model, dict) or "class" not in model:
            raise SpecError("spec 'model' needs a 'class' (e.g. DeepFM)")
        label = raw.get("label", "label")
        return cls(
            name=str(raw.get("name") or directory.name),
            directory=directory,
            data=dict(raw["data"]),
            label=[label] if isinstance(label, str) else list(label),
            features=list(raw["features"]),
            model_class=str(model["class"]),
            model_params=dict(model.get("params") or {}),
            training=dict(raw.get("training") or {}),
            defaults=dict(raw.get("defaults") or {}),
        )


def load_frame(data: Mapping[str, Any], base_dir: Path, rows_override: int | None = None):
    """The spec's rows as a DataFrame, and the planted AUC when synthetic."""
    from .. import data as datasets

    source = data.get("source", "synthetic")
    if source == "synthetic":
        generator = data.get("generator", "criteo")
        if generator not in SYNTHETIC_GENERATORS:
            raise SpecError(f"data.generator must be one of {SYNTHETIC_GENERATORS}, got {generator!r}")
        rows = int(rows_override or data.get("rows", 100_000))
        dataset = getattr(datasets, f"make_{generator}")(rows, seed=int(data.get("seed", 0)))
        return dataset.frame, dataset
    if source == "file":
        if "path" not in data:
            raise SpecError("data.path is required when data.source is 'file'")
        path = Path(data["path"])
        if not path.is_absolute():
            path = (base_dir / path).resolve()
        fmt = data.get("format", "csv")
        if fmt not in FILE_FORMATS:
            raise SpecError(f"data.format must be one of {FILE_FORMATS}, got {fmt!r}")
        if fmt == "csv":
            frame = pd.read_csv(path)
        elif fmt == "parquet":
            frame = pd.read_parquet(path)
        else:
            frame = getattr(datasets, f"read_{fmt}")(path)
        if rows_override:
            frame = frame.iloc[:rows_override]
        return frame, None
    raise SpecError(f"data.source must be 'synthetic', 'file' or 'files', got {source!r}")


TRANSFORMS = ("none", "log1p", "minmax", "standardize")


def _dense_transform(spec: Any, values: pd.Series, name: str):
    """The in-model transform of a dense column: one name from `TRANSFORMS`
    or a list applied in order (e.g. `[log1p, standardize]`); statistics are
    measured on `values` after the steps before them."""
    import keras

    from ..layers.transforms import Log1p, Rescale

    steps = [spec] if spec is None or isinstance(spec, str) else list(spec)
    current = values.fillna(0).to_numpy(dtype="float64")
    layers = []
    for step in steps:
        if step in (None, "none"):
            continue
        if step == "log1p":
            layers.append(Log1p(name=f"log1p_{name}"))
            current = np.log1p(np.maximum(current, 0.0))
        elif step == "minmax":
            low, high = float(current.min()), float(current.max())
            layers.append(Rescale(low, (high - low) or 1.0, name=f"minmax_{name}"))
            current = (current - low) / ((high - low) or 1.0)
        elif step == "standardize":
            mean, std = float(current.mean()), float(current.std())
            layers.append(Rescale(mean, std or 1.0, name=f"standardize_{name}"))
            current = (current - mean) / (std or 1.0)
        else:
            raise SpecError(f"feature {name!r}: transform steps must be among {TRANSFORMS}, got {step!r}")
    if not layers:
        return None
    if len(layers) == 1:
        return layers[0]
    return keras.Sequential(layers, name=f"transform_{name}")


def build_feature_columns(features: Sequence[Mapping[str, Any]], frame: pd.DataFrame) -> list:
    """Feature columns from the spec's `features` list; transforms that need
    statistics (minmax, standardize) measure them on `frame`."""
    columns: list = []
    for i, group in enumerate(features):
        group = dict(group)
        kind = group.pop("kind", None)
        names = group.pop("names", None) or [group.pop("name", None)]
        if kind not in ("sparse", "dense", "varlen") or not all(names):
            raise SpecError(f"features[{i}] needs kind (sparse|dense|varlen) and name or names")
        for name in names:
            if name not in frame.columns:
                raise SpecError(f"features[{i}]: column {name!r} is not in the data")
            params = dict(group)
            try:
                if kind == "dense":
                    transform = _dense_transform(params.pop("transform", None), frame[name], name)
                    columns.append(DenseFeat(name, transform_fn=transform, **params))
                elif kind == "sparse":
                    columns.append(SparseFeat(name, **params))
                else:
                    maxlen = params.pop("maxlen")
                    combiner = params.pop("combiner", "mean")
                    params.pop("separator", None)
                    columns.append(VarLenSparseFeat(SparseFeat(name, **params), maxlen, combiner))
            except (TypeError, KeyError, ValueError) as exc:
                raise SpecError(f"features[{i}] ({name}): {exc}") from None
    return columns


def _separators(features: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    out = {}
    for group in features:
        if group.get("kind") == "varlen":
            for name in group.get("names") or [group.get("name")]:
                out[name] = group.get("separator", "|")
    return out


def build_model(model_class: str, columns: list, params: Mapping[str, Any]):
    from .. import models

    try:
        builder = getattr(models, model_class)
    except AttributeError:
        raise SpecError(f"model.class {model_class!r} is not a ctrkit model; known: {models.__all__}") from None
    params = dict(params)
    try:
        if "linear_feature_columns" in inspect.signature(builder).parameters:
            return builder(columns, columns, **params)
        return builder(columns, **params)
    except TypeError as exc:
        raise SpecError(f"model.params for {model_class}: {exc}") from None


@dataclass
class TrainingResult:
    model: Any
    feature_columns: list
    validation: dict[str, float]
    rows_seen: int
    seconds: float
    planted_auc: float | None
    version_dir: Path | None


@dataclass
class PreparedRows:
    """A spec's in-memory rows, split and turned into model inputs."""

    columns: list
    x_train: dict[str, np.ndarray]
    x_valid: dict[str, np.ndarray]
    y_train: list[np.ndarray]
    y_valid: list[np.ndarray]
    planted_auc: float | None


def prepare_rows(spec: TrainingSpec, rows: int | None = None) -> PreparedRows:
    """Load the spec's rows, hold out the validation share, build the feature
    columns on the training part and the inputs of both parts. With a
    synthetic single-label source, also the planted model's validation AUC."""
    from ..data import train_valid_split

    frame, synthetic = load_frame(spec.data, spec.directory, rows)
    missing = [c for c in spec.label if c not in frame.columns]
    if missing:
        raise SpecError(f"label column(s) {missing} are not in the data")
    valid_fraction = float(spec.data.get("valid_fraction", 0.2))
    train_frame, valid_frame = train_valid_split(frame, valid_fraction, seed=int(spec.data.get("seed", 0)))
    columns = build_feature_columns(spec.features, train_frame)
    separators = _separators(spec.features)
    planted = None
    if synthetic is not None and len(spec.label) == 1:
        planted = float(synthetic.subset(valid_frame.index.to_numpy()).planted_auc)
    return PreparedRows(
        columns=columns,
        x_train=model_input(train_frame, columns, separators),
        x_valid=model_input(valid_frame, columns, separators),
        y_train=[train_frame[c].to_numpy(dtype="float32") for c in spec.label],
        y_valid=[valid_frame[c].to_numpy(dtype="float32") for c in spec.label],
        planted_auc=planted,
    )


def train_from_spec(
    spec: TrainingSpec,
    *,
    rows: int | None = None,
    epochs: int | None = None,
    export: bool = True,
    repository: str | Path | None = None,
    verbose: int | str = "auto",
) -> TrainingResult:
    """Train the spec's model, report validation AUC and log loss, export it.

    With `data.source: files`, or when `TF_CONFIG` names several workers, the
    rows stream through `ctrkit.data.pipelines` and training runs under
    `tf.distribute.MultiWorkerMirroredStrategy` (one worker: the default
    strategy), each worker reading its own shard; only the chief validates
    and exports (see `train_distributed`).
    """
    from . import distribute

    if spec.data.get("source") == "files" or distribute.is_multi_worker():
        return train_distributed(spec, rows=rows, epochs=epochs, export=export, repository=repository)

    import keras

    from ..export import export_model

    data = prepare_rows(spec, rows)
    columns, x_train, x_valid, y_train, y_valid = data.columns, data.x_train, data.x_valid, data.y_train, data.y_valid

    keras.utils.set_random_seed(int(spec.training.get("seed", 0)))
    model = build_model(spec.model_class, columns, spec.model_params)
    optimizer = _optimizer(spec)
    binary = [getattr(layer, "task", "binary") == "binary" for layer in (model.get_layer(n) for n in model.output_names)]
    losses = ["binary_crossentropy" if b else "mse" for b in binary]
    model.compile(optimizer, losses if len(losses) > 1 else losses[0])

    epochs = int(epochs or spec.training.get("epochs", 1))
    batch_size = int(spec.training.get("batch_size", 1024))
    started = time.perf_counter()
    model.fit(
        x_train,
        y_train if len(y_train) > 1 else y_train[0],
        batch_size=batch_size,
        epochs=epochs,
        verbose=verbose,
        shuffle=True,
    )
    seconds = time.perf_counter() - started
    predictions = model.predict(x_valid, batch_size=max(batch_size, 4096), verbose=0)
    predictions = predictions if isinstance(predictions, list) else [predictions]
    validation = _validation_metrics(spec.label, binary, y_valid, predictions)

    version_dir = None
    if export:
        version_dir = export_model(
            model,
            Path(repository) if repository else spec.directory,
            columns,
            name=spec.name,
            rows_seen=len(y_train[0]) * epochs,
            validation=validation,
            defaults=spec.defaults or None,
            model_class=spec.model_class,
            training_seconds=round(seconds, 3),
        )
    return TrainingResult(model, columns, validation, len(y_train[0]) * epochs, seconds, data.planted_auc, version_dir)


def _optimizer(spec: TrainingSpec):
    import keras

    return keras.optimizers.get(
        {"class_name": spec.training.get("optimizer", "adam"), "config": {"learning_rate": float(spec.training.get("learning_rate", 1e-3))}}
    )


def _validation_metrics(labels: Sequence[str], binary: Sequence[bool], ys: Sequence, predictions: Sequence) -> dict[str, float]:
    from ..data.metrics import log_loss, roc_auc_score

    validation: dict[str, float] = {}
    for name, is_binary, y, p in zip(labels, binary, ys, predictions):
        y, p = np.asarray(y).reshape(-1), np.asarray(p).reshape(-1)
        prefix = "" if len(labels) == 1 else f"{name}_"
        if is_binary:
            validation[f"{prefix}auc"] = float(roc_auc_score(y, p))
            validation[f"{prefix}logloss"] = float(log_loss(y, p))
        else:
            validation[f"{prefix}rmse"] = float(math.sqrt(np.mean((y - p) ** 2)))
    return validation


def _spec_path(spec: TrainingSpec, value: str | Path) -> str:
    path = Path(value)
    return str(path if path.is_absolute() or "://" in str(value) else (spec.directory / path))


def _file_inputs(spec: TrainingSpec, separators: Mapping[str, str], batch_size: int, epochs: int, seed: int):
    """Feature columns and input functions for `data.source: files`."""
    from ..data import pipelines

    data = spec.data
    fmt = data.get("format")
    if fmt not in pipelines.FORMATS:
        raise SpecError(f"data.format must be one of {pipelines.FORMATS} when data.source is 'files', got {fmt!r}")
    if "pattern" not in data:
        raise SpecError("data.pattern (a file glob, or a list of globs) is required when data.source is 'files'")
    patterns = data["pattern"] if isinstance(data["pattern"], list) else [data["pattern"]]
    train_pattern = [_spec_path(spec, p) for p in patterns]
    options: dict[str, Any] = {}
    if fmt == "csv":
        options["field_delim"] = data.get("field_delim", ",")
    if fmt in ("csv", "parquet"):
        options["separators"] = separators
    if fmt == "tfrecord" and data.get("compression_type"):
        options["compression_type"] = data["compression_type"]
    try:
        sample = pipelines.read_sample(fmt, train_pattern, int(data.get("sample_rows", 10_000)), **options)
    except FileNotFoundError as exc:
        raise SpecError(f"data.pattern: {exc}") from None
    missing = [c for c in spec.label if c not in sample.columns]
    if missing:
        raise SpecError(f"label column(s) {missing} are not in the data")
    columns = build_feature_columns(spec.features, sample)
    label = spec.label[0] if len(spec.label) == 1 else spec.label
    shuffle_buffer = int(data.get("shuffle_buffer", 10_000))

    def train_fn(input_context=None):
        return pipelines.make_dataset(
            fmt, train_pattern, columns, label, batch_size=batch_size, num_epochs=epochs,
            shuffle_buffer=shuffle_buffer, seed=seed, input_context=input_context, **options,
        )

    valid_fn = None
    if data.get("valid_pattern"):
        valid_patterns = data["valid_pattern"] if isinstance(data["valid_pattern"], list) else [data["valid_pattern"]]
        valid_pattern = [_spec_path(spec, p) for p in valid_patterns]

        def valid_fn(input_context=None):
            return pipelines.make_dataset(fmt, valid_pattern, columns, label, batch_size=max(batch_size, 4096), **options)

    return columns, train_fn, valid_fn


def _array_input_fn(x: Mapping[str, np.ndarray], ys: Sequence[np.ndarray], batch_size: int, epochs: int, seed: int | None, shuffle: bool):
    from ..data.pipelines import array_dataset

    def input_fn(input_context=None):
        return array_dataset(
            x, list(ys), batch_size=batch_size, num_epochs=epochs, shuffle=shuffle, seed=seed, input_context=input_context
        )

    return input_fn


def train_distributed(
    spec: TrainingSpec,
    *,
    rows: int | None = None,
    epochs: int | None = None,
    export: bool = True,
    repository: str | Path | None = None,
) -> TrainingResult:
    """Train with `ctrkit.training.Trainer` under the strategy `TF_CONFIG` implies.

    The spec's data may be `source: files` (`format`: tfrecord, csv or
    parquet; `pattern`: glob(s) of the training files; optional
    `valid_pattern`, `shuffle_buffer`, `sample_rows` — rows of the first file
    read to check the columns and measure minmax/standardize transforms) or
    any in-memory source. `training.batch_size` is the global batch, split
    over the workers; optional `training.steps` stops at that global step,
    `training.model_dir` keeps checkpoints there (training resumes from
    them) every `training.save_checkpoints_steps` steps and at the end.
    Every worker trains; the chief validates and exports.
    """
    from . import distribute

    strategy = distribute.strategy_from_environment()  # before any other TensorFlow work

    from ..export import export_model
    from .trainer import Trainer

    epochs = int(epochs or spec.training.get("epochs", 1))
    batch_size = int(spec.training.get("batch_size", 1024))
    seed = int(spec.training.get("seed", 0))
    separators = _separators(spec.features)
    planted = None
    if spec.data.get("source") == "files":
        if rows:
            raise SpecError("--rows applies to synthetic and single-file data, not to data.source 'files'")
        columns, train_fn, valid_fn = _file_inputs(spec, separators, batch_size, epochs, seed)
    else:
        data = prepare_rows(spec, rows)
        columns, planted = data.columns, data.planted_auc
        train_fn = _array_input_fn(data.x_train, data.y_train, batch_size, epochs, seed, shuffle=True)
        valid_fn = _array_input_fn(data.x_valid, data.y_valid, max(batch_size, 4096), 1, None, shuffle=False)

    training = spec.training
    model_dir = training.get("model_dir")
    trainer = Trainer(
        lambda: build_model(spec.model_class, columns, spec.model_params),
        lambda: _optimizer(spec),
        strategy=strategy,
        model_dir=_spec_path(spec, model_dir) if model_dir else None,
        save_checkpoints_steps=training.get("save_checkpoints_steps"),
        log_step_count_steps=int(training.get("log_steps", 100)),
        seed=seed,
    )
    result = trainer.train(train_fn, max_steps=training.get("steps"))

    validation: dict[str, float] = {}
    version_dir = None
    if trainer.chief:
        if valid_fn is not None:
            outputs, labels = [], []
            for batch_outputs, batch_labels in trainer.predict_batches(valid_fn):
                outputs.append(batch_outputs)
                labels.append(batch_labels)
            predictions = [np.concatenate([o[i] for o in outputs]) for i in range(len(spec.label))]
            ys = [np.concatenate([y[i] for y in labels]) for i in range(len(spec.label))]
            validation = _validation_metrics(spec.label, [t == "binary" for t in trainer.tasks], ys, predictions)
        if export:
            version_dir = export_model(
                trainer.model,
                Path(repository) if repository else spec.directory,
                columns,
                name=spec.name,
                rows_seen=result.rows,
                validation=validation,
                defaults=spec.defaults or None,
                model_class=spec.model_class,
                training_seconds=round(result.seconds, 3),
                workers=distribute.num_workers(),
                global_step=result.global_step,
            )
    trainer.barrier()  # the other workers wait for the chief's export, then all exit together
    return TrainingResult(trainer.model, columns, validation, result.rows, result.seconds, planted, version_dir)
