"""Training: from a YAML spec (`ctrkit train`), and the distributed loop behind it.

* `spec`: `TrainingSpec.load(path)` and `train_from_spec(spec)`, which builds
  the feature columns and the model a spec names, trains it in memory or
  from streamed files, validates and exports it;
* `trainer`: `Trainer`, a checkpointed training loop under any synchronous
  `tf.distribute` strategy, and `ParameterServerTrainer`;
* `distribute`: cluster membership from `TF_CONFIG` and the strategy it implies.

Example:
    >>> from ctrkit.training import TrainingSpec, train_from_spec
    >>> spec = TrainingSpec.load("models/criteo_deepfm/spec.yaml")       # doctest: +SKIP
    >>> result = train_from_spec(spec, rows=20_000, epochs=1, export=False)  # doctest: +SKIP
"""

from . import distribute
from .spec import (
    PreparedRows,
    SpecError,
    TrainingResult,
    TrainingSpec,
    build_feature_columns,
    build_model,
    load_frame,
    model_input,
    prepare_rows,
    train_distributed,
    train_from_spec,
)
from .trainer import ParameterServerTrainer, Trainer, TrainResult

__all__ = [
    "ParameterServerTrainer",
    "PreparedRows",
    "SpecError",
    "TrainResult",
    "Trainer",
    "TrainingResult",
    "TrainingSpec",
    "build_feature_columns",
    "build_model",
    "distribute",
    "load_frame",
    "model_input",
    "prepare_rows",
    "train_distributed",
    "train_from_spec",
]
