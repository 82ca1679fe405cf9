"""HTTP plumbing shared by the routes: reading bodies, JSON answers, headers.

The prediction routes are plain ASGI endpoints (see :mod:`service.routes`), so
these helpers work on the ASGI ``scope``/``receive``/``send`` triple; the other
routes use :func:`json_response`, a Starlette response with an orjson body.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson
from starlette.responses import Response

from service.errors import PayloadError

__all__ = [
    "BodyTimeout",
    "ClientGone",
    "declared_length",
    "dumps",
    "header",
    "json_response",
    "read_body",
    "send_json",
]

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_DUMPS_OPTIONS = orjson.OPT_SERIALIZE_NUMPY
_JSON = (b"content-type", b"application/json")


class ClientGone(Exception):
    """The client closed the connection before its request was read or answered (recorded as 499)."""


class BodyTimeout(Exception):
    """The body did not arrive before the request's deadline (answer 408)."""


def dumps(content: Any) -> bytes:
    return orjson.dumps(content, option=_DUMPS_OPTIONS)


def json_response(content: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(content), status_code=status_code, headers=headers, media_type="application/json")


def header(scope: dict[str, Any], name: bytes) -> bytes | None:
    """A request header's value (``name`` in lower case), the first if repeated."""
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


def _too_large(limit: int) -> PayloadError:
    """The 413 of a body above ``limit`` bytes."""
    return PayloadError.single(f"request body larger than {limit} bytes", "too_large", ("body",), status_code=413)


def declared_length(scope: dict[str, Any], limit: int) -> int | None:
    """The ``Content-Length`` of a request; 400 when malformed, 413 above ``limit``."""
    value = header(scope, b"content-length")
    if value is None:
        return None
    if not value.isdigit() or len(value) > 18:
        raise PayloadError.single("invalid Content-Length header", "value_error", ("header", "content-length"),
                                  status_code=400)
    length = int(value)
    if length > limit:
        raise _too_large(limit)
    return length


async def read_body(receive: Receive, limit: int, deadline: float) -> bytes:
    """The whole body; 413 past ``limit`` bytes, :class:`BodyTimeout` past ``deadline``
    (a ``time.monotonic()`` instant), :class:`ClientGone` if the client disconnects."""
    message = await receive()
    body = message.get("body", b"")
    if len(body) > limit:  # a body without Content-Length may arrive whole in the first message
        raise _too_large(limit)
    if not message.get("more_body", False):
        if message["type"] == "http.disconnect":
            raise ClientGone()
        return body
    chunks = [body]
    size = len(body)
    try:
        async with asyncio.timeout(max(deadline - time.monotonic(), 0.0)):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientGone()
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
    except TimeoutError:
        raise BodyTimeout() from None


async def send_json(send: Send, status: int, body: bytes, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    """Sends a whole JSON answer."""
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [_JSON, (b"content-length", str(len(body)).encode()), *headers],
    })
    await send({"type": "http.response.body", "body": body})
