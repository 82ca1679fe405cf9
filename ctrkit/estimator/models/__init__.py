"""The estimator zoo, by DeepCTR's names: `from ctrkit.estimator.models import DeepFMEstimator`.

Each function is made from its Keras model by `estimator_for`: it takes the
model's arguments (those DeepCTR's estimator takes, in the same order) plus
`model_dir`, `config`, `linear_optimizer`, `dnn_optimizer` and
`training_chief_hooks`, and returns a `ctrkit.estimator.CTREstimator`.

Example:
    >>> import inspect, tempfile
    >>> from ctrkit.feature_column import SparseFeat
    >>> columns = [SparseFeat("user", 100), SparseFeat("item", 100)]
    >>> model = DeepFMEstimator(columns, columns, dnn_hidden_units=(8,), model_dir=tempfile.mkdtemp())
    >>> list(inspect.signature(DeepFMEstimator).parameters)[:4]
    ['linear_feature_columns', 'dnn_feature_columns', 'dnn_hidden_units', 'l2_reg_linear']
"""

from __future__ import annotations

import importlib

_MODULES = {
    "AFMEstimator": "afm",
    "AutoIntEstimator": "autoint",
    "CCPMEstimator": "ccpm",
    "DCNEstimator": "dcn",
    "DeepFEFMEstimator": "deepfefm",
    "DeepFMEstimator": "deepfm",
    "FiBiNETEstimator": "fibinet",
    "FNNEstimator": "fnn",
    "FwFMEstimator": "fwfm",
    "NFMEstimator": "nfm",
    "PNNEstimator": "pnn",
    "WDLEstimator": "wdl",
    "xDeepFMEstimator": "xdeepfm",
}

__all__ = sorted(_MODULES)


def __getattr__(name: str):
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_MODULES))
