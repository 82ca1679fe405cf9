"""Bounds on slow clients, below the application: uvicorn's HTTP protocols with a request-read guard.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) and answers
503 past a number of connections (``limit_concurrency``), but it gives a client
all the time it wants to send a request's headers, and with httptools no bound
on their size: a few hundred sockets sending a header byte now and then would
hold every connection. :class:`GuardedHttpTools` and :class:`GuardedH11` add,
per connection, one timer that runs only while a request is incomplete:

* **headers**: from the connection's opening (or from the first byte of a later
  request) until its headers are complete, at most ``header_timeout_s``; past
  it a client that sent part of a request gets 408 and the connection is
  closed, a connection that sent nothing is just closed (an answer to no
  request could be read as the answer to the next one). A head larger than
  ``max_header_bytes`` gets 431 and the connection is closed.
* **body**: from the headers until the body is complete. The application
  answers a late body with 408 first (its own bound, :mod:`service.app` and
  :mod:`service.predict`); the guard is the backstop ``body_timeout_s`` plus
  a grace period later, for a body nobody reads (a route that answered
  without it): the connection is closed.

A request that arrives whole in one read (the usual case) arms no timer: the
guard only looks at which request uvicorn is serving after each read.

>>> from service.settings import Settings
>>> guarded_protocol(Settings(), "httptools").header_timeout
5.0
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.http import dumps
from service.settings import Settings

__all__ = ["BODY_GRACE_S", "GuardedH11", "GuardedHttpTools", "RequestGuard", "guarded_protocol"]

# the application's own 408 for a late body comes first; the guard closes what is left this much later
BODY_GRACE_S = 1.0


def _answer(status: int, reason: bytes, detail: str) -> bytes:
    body = dumps({"detail": detail})
    head = (b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
            % (status, reason, len(body)))
    return head + body


class RequestGuard:
    """Mixin for a uvicorn HTTP protocol: bounds the time and size of a request's head and the time of its body."""

    header_timeout: float = 5.0
    body_timeout: float = 10.0
    max_header_bytes: int = 16384
    # attributes of the uvicorn protocol this mixin is combined with
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    cycle: Any

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # type: ignore[misc]
        self._seen: Any = None  # the request whose headers were complete at the last read
        self._head_bytes = 0  # bytes received of a request whose headers are not complete yet
        self._timer: asyncio.TimerHandle | None = None
        self._timing_body = False
        self._arm_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]

    def data_received(self, data: bytes) -> None:
        super().data_received(data)  # type: ignore[misc]
        if self.transport.is_closing():
            self._disarm()
            return
        cycle = self.cycle
        if cycle is not self._seen:  # a request's headers are complete
            self._seen = cycle
            self._head_bytes = 0
            self._disarm()
            if cycle.more_body:
                self._timing_body = True
                self._timer = self.loop.call_later(self.body_timeout + BODY_GRACE_S, self._body_late)
            return
        if cycle is not None and cycle.more_body:
            return  # body bytes: the body timer runs
        if self._timing_body:
            self._disarm()  # the body is complete
            return
        # the head of the next request, not complete yet
        self._head_bytes += len(data)
        if self._head_bytes > self.max_header_bytes:
            self._refuse(_answer(431, b"Request Header Fields Too Large",
                                 f"the request head is larger than {self.max_header_bytes} bytes"))
            return
        if self._timer is None:
            self._arm_head()

    # -- timers ------------------------------------------------------------------
    def _arm_head(self) -> None:
        self._timing_body = False
        self._timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def _disarm(self) -> None:
        self._timing_body = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _headers_late(self) -> None:
        self._timer = None
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:  # the next request waits for this answer
            self._arm_head()
            return
        if self._head_bytes:
            self._refuse(_answer(408, b"Request Timeout",
                                 f"the request headers did not arrive within {self.header_timeout:g} s"))
        else:
            self.transport.close()

    def _body_late(self) -> None:
        self._timer = None
        self._timing_body = False
        cycle = self.cycle
        if cycle is None or not cycle.more_body:
            return
        if not cycle.response_started:
            self.transport.write(_answer(408, b"Request Timeout",
                                         f"the request body did not arrive within {self.body_timeout:g} s"))
            cycle.disconnected = True  # the application's answer, if any, is dropped
            cycle.message_event.set()
        self.transport.close()

    def _refuse(self, answer: bytes) -> None:
        self._disarm()
        self.transport.write(answer)
        self.transport.close()


class GuardedHttpTools(RequestGuard, HttpToolsProtocol):
    """uvicorn's httptools protocol with the request-read guard."""


class GuardedH11(RequestGuard, H11Protocol):
    """uvicorn's h11 protocol with the request-read guard."""


def guarded_protocol(settings: Settings, http: str) -> type[RequestGuard]:
    """The guarded protocol class for ``http`` (``"httptools"`` or ``"h11"``), bound to ``settings``."""
    base = GuardedHttpTools if http == "httptools" else GuardedH11
    return type(base.__name__, (base,), {
        "header_timeout": settings.header_timeout_s,
        "body_timeout": settings.body_timeout_s,
        "max_header_bytes": settings.max_header_bytes,
    })
