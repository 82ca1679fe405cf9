"""ctrkit: CTR models on Keras 3 with DeepCTR's API, and the service that serves them."""

__version__ = "0.1.0"

from . import tf_startup

tf_startup.install()
