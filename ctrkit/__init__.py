"""ctrkit: CTR models on Keras 3 with DeepCTR's API, and the service that serves them.

As with DeepCTR, `import ctrkit` is enough to reach the submodules
(`ctrkit.models.DeepFM`, `ctrkit.layers.custom_objects`, ...); each is
imported the first time it is used, so `import ctrkit` itself stays light.
"""

import importlib

__version__ = "0.1.0"

from . import tf_startup

tf_startup.install()

_SUBMODULES = (
    "cli", "columns", "data", "estimator", "export", "feature_column", "inputs", "layers", "models", "training", "utils",
)


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES))
