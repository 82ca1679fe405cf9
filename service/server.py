"""The uvicorn configuration of the service: event loop, HTTP protocol and the bounds on clients.

:func:`uvicorn_config` is what ``ctrkit serve`` runs (and what the tests run):
uvloop and httptools when installed, the request-read guard of
:mod:`service.connections` on the HTTP protocol, and the settings that bound
connections (``max_connections`` -> uvicorn's ``limit_concurrency``,
``keep_alive_timeout_s`` -> ``timeout_keep_alive``, ``max_header_bytes`` ->
h11's ``h11_max_incomplete_event_size``).

>>> from service.settings import Settings
>>> config = uvicorn_config(None, Settings(max_connections=50))
>>> config.limit_concurrency, config.timeout_keep_alive
(50, 5.0)
"""

from __future__ import annotations

from typing import Any

import uvicorn

from service.connections import guarded_protocol
from service.settings import Settings

__all__ = ["uvicorn_config"]


def _installed(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def uvicorn_config(app: Any, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """The uvicorn configuration serving ``app`` with ``settings``; ``overrides`` are further uvicorn options."""
    http = "httptools" if _installed("httptools") else "h11"
    options: dict[str, Any] = dict(
        host=settings.host,
        port=settings.port,
        loop="uvloop" if _installed("uvloop") else "asyncio",
        http=guarded_protocol(settings, http),
        lifespan="on",
        log_level=settings.log_level.value,
        access_log=settings.access_log,
        timeout_graceful_shutdown=settings.graceful_timeout_s,
        timeout_keep_alive=settings.keep_alive_timeout_s,
        limit_concurrency=settings.max_connections or None,
        h11_max_incomplete_event_size=settings.max_header_bytes,
        server_header=False,
    )
    options.update(overrides)
    return uvicorn.Config(app, **options)
