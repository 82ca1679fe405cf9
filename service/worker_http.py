"""The HTTP protocol of a worker process under ``ctrkit serve --workers N``.

uvicorn imports ``service.worker_http:Protocol`` by name in each worker: the
request-read guard of :mod:`service.connections`, bound to the settings the
supervisor handed over (:func:`service.workers.handed_over`), exactly as one
process builds it. Only worker processes import this module.
"""

from __future__ import annotations

from service.connections import guarded_protocol
from service.workers import handed_over

__all__ = ["Protocol"]

_settings, _http, _, _ = handed_over()
Protocol = guarded_protocol(_settings, _http)
