"""What every server process does before it builds the app, whether it serves alone or as one of several workers.

Logging is set up and TensorFlow's thread pools are sized from the settings
before TensorFlow runs anything (:func:`service.runner.configure_threads`).
"""

from __future__ import annotations

import logging

from service.settings import Settings

__all__ = ["LOG_FORMAT", "prepare_process"]

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def prepare_process(settings: Settings, log_format: str = LOG_FORMAT) -> None:
    """Configures logging and TensorFlow's thread pools for this process (once, before TensorFlow runs)."""
    from service.runner import configure_threads

    configure_threads(settings.tf_intra_op_threads, settings.tf_inter_op_threads)
    logging.basicConfig(level=settings.log_level.value.upper(), format=log_format)
