"""The service's routes, one module per group.

* :mod:`service.routes.predict`: the prediction routes (``POST /predict`` and
  TensorFlow Serving's ``:predict``), plain ASGI endpoints on the hot path;
* :mod:`service.routes.tfserving`: TensorFlow Serving's model status and metadata;
* :mod:`service.routes.admin`: the admin API;
* :mod:`service.routes.models`: models, liveness and readiness;
* :mod:`service.routes.metrics`: Prometheus metrics.
"""
