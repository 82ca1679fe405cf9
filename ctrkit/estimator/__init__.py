"""Estimators for large-scale and distributed training, by DeepCTR's names.

    from ctrkit.estimator import DeepFMEstimator, RunConfig
    from ctrkit.estimator.inputs import input_fn_tfrecord

`tf.estimator` no longer exists in TensorFlow 2.16+; these estimators give
the same workflow (`train`, `evaluate`, `predict`, `export_saved_model`,
checkpoints in `model_dir`, `TF_CONFIG` clusters) on ctrkit's Keras models
and `tf.distribute`. See `ctrkit.estimator.estimator` for the details.
"""

from __future__ import annotations

from .estimator import CTREstimator, RunConfig
from .models import __all__ as _model_names

__all__ = ["CTREstimator", "RunConfig", *_model_names]


def __getattr__(name: str):
    if name in _model_names:
        from . import models

        value = getattr(models, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_model_names))
