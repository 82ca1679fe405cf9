"""What the application does about slow clients and clients that leave.

* :func:`bounded_receive`: a request's body must arrive within a bound, on
  every route (the prediction routes read theirs with the request's deadline,
  :func:`service.http.read_body`); past it the answer is 408 and the
  connection is closed.
* :func:`unless_gone`: rows waiting in a batching queue are withdrawn when
  their client disconnects, so nothing is computed for it. uvicorn tells an
  application that its client left by answering a pending ``receive()`` with
  ``http.disconnect``; once the body is read, nothing else is received for the
  request, so one task waiting on ``receive()`` sees the departure. It costs
  about 6 microseconds, so the predictor starts it only for rows that queue
  behind a full model call: rows that go into the next call wait one call at
  most.
* :func:`install_handlers`: on the FastAPI routes a late body answers 408, and
  a client that left is recorded quietly (debug log) instead of a 500 with an
  ERROR traceback.

>>> import asyncio
>>> async def left():
...     return {"type": "http.disconnect"}
>>> async def slow():
...     await asyncio.sleep(10)
>>> async def main():
...     try:
...         await unless_gone(slow(), left)
...     except ClientGone:
...         return "withdrawn"
>>> asyncio.run(main())
'withdrawn'
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from service.http import BodyTimeout, ClientGone, Receive, json_response
from service.names import escape

__all__ = ["bounded_receive", "install_handlers", "unless_gone"]

log = logging.getLogger(__name__)

T = TypeVar("T")


def bounded_receive(receive: Receive, seconds: float) -> Receive:
    """``receive`` raising :class:`BodyTimeout` when the body is not complete ``seconds`` from now."""
    deadline = time.monotonic() + seconds
    complete = False

    async def bounded() -> dict[str, Any]:
        nonlocal complete
        if complete:
            return await receive()
        try:
            async with asyncio.timeout(max(deadline - time.monotonic(), 0.0)):
                message = await receive()
        except TimeoutError:
            raise BodyTimeout() from None
        if message["type"] != "http.request" or not message.get("more_body", False):
            complete = True
        return message

    return bounded


async def unless_gone(work: Awaitable[T], receive: Receive) -> T:
    """``await work``, cancelled with :class:`ClientGone` if the client disconnects meanwhile
    (call it once the body has been read)."""
    task = asyncio.current_task()
    assert task is not None
    left = finished = False

    def on_message(watch: asyncio.Future[dict[str, Any]]) -> None:
        nonlocal left
        if finished or watch.cancelled() or watch.exception() is not None:
            return
        if watch.result()["type"] == "http.disconnect":
            left = True
            task.cancel()

    watcher = asyncio.ensure_future(receive())
    watcher.add_done_callback(on_message)
    try:
        return await work
    except asyncio.CancelledError:
        if left and task.uncancel() == 0:
            raise ClientGone() from None
        raise
    finally:
        finished = True
        watcher.remove_done_callback(on_message)
        watcher.cancel()


def install_handlers(api: FastAPI) -> None:
    """408 for a late body and a quiet record of a departed client, on the FastAPI routes."""

    async def late_body(request: Request, exc: Exception) -> Response:
        return json_response({"detail": "the request body did not arrive in time"}, 408, {"connection": "close"})

    async def gone(request: Request, exc: Exception) -> Response:
        log.debug("client left during %s %s", request.method, escape(request.url.path, 200))
        return Response(status_code=499)  # never delivered: uvicorn drops what is sent to a departed client

    api.add_exception_handler(BodyTimeout, late_body)
    api.add_exception_handler(ClientDisconnect, gone)
