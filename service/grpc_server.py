"""The gRPC server: one ``grpc.aio`` server on the service's event loop, started and stopped with the app.

It serves, on ``CTR_GRPC_PORT`` (0: no gRPC server) at the REST service's
address:

* TensorFlow Serving's ``tensorflow.serving.PredictionService`` (``Predict``,
  ``GetModelMetadata``) and ``tensorflow.serving.ModelService``
  (``GetModelStatus``): :mod:`service.tfserving_grpc`;
* the Open Inference Protocol's ``inference.GRPCInferenceService``:
  :mod:`service.oip_grpc`.

Running on the same event loop as the REST routes, its requests reach the same
batchers: gRPC and REST rows share model calls. Every prediction goes through
:meth:`service.predict.Predictor.infer` (the version choice, the deadline,
admission) and :func:`serve_prediction` here: the client's gRPC deadline
shortens the request's deadline, a cancelled call drops its queued rows, and
errors map to gRPC codes (invalid argument, not found, unavailable, deadline
exceeded). Metrics count each call under its own endpoint label with the HTTP
status its code corresponds to, so one alert covers every protocol.

On shutdown the server stops taking calls and lets the running ones finish
(at most ``CTR_GRACEFUL_TIMEOUT_S``) before the batchers drain.

Alone, the server binds its port exclusively: a port in use is an error. Under
``--workers N`` every worker runs its own gRPC server on the same port
(``SO_REUSEPORT``), so the kernel hands each new gRPC connection to one of the
workers, as it does for HTTP; the supervisor checks first that the port is
free (:func:`service.workers.check_grpc_port`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import grpc

from service.decoding import Decoded
from service.errors import PayloadError
from service.predict import Outcome, Predictor
from service.registry import ModelVersion, RegistryError
from service.settings import Settings, grpc_address, grpc_port_unusable

__all__ = ["GrpcServer", "abort_for", "serve_prediction"]

log = logging.getLogger(__name__)

_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    404: grpc.StatusCode.NOT_FOUND,
    408: grpc.StatusCode.DEADLINE_EXCEEDED,
    409: grpc.StatusCode.FAILED_PRECONDITION,
    413: grpc.StatusCode.INVALID_ARGUMENT,
    415: grpc.StatusCode.INVALID_ARGUMENT,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    500: grpc.StatusCode.INTERNAL,
    501: grpc.StatusCode.UNIMPLEMENTED,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}


def code_of(status: int) -> grpc.StatusCode:
    """The gRPC code of an HTTP status."""
    return _CODES.get(status, grpc.StatusCode.UNKNOWN)


async def abort_for(context: grpc.aio.ServicerContext, exc: Exception) -> None:
    """Ends a call with the gRPC code and message of a lookup error (:class:`PayloadError`, registry errors)."""
    if isinstance(exc, PayloadError):
        await context.abort(code_of(exc.status_code if exc.status_code != 422 else 400),
                            "; ".join(e["msg"] for e in exc.errors))
    if isinstance(exc, RegistryError):
        await context.abort(code_of(exc.status_code), exc.message)
    raise exc


async def serve_prediction(
    predictor: Predictor,
    context: grpc.aio.ServicerContext,
    endpoint: str,
    name: str | None,
    version: int | None,
    decode: Callable[[ModelVersion], Decoded],
    answer: Callable[[Outcome], Any],
    not_found: Callable[[str], str] | None = None,
) -> Any:
    """Scores one gRPC prediction call and returns its response message (or aborts the call).

    ``decode(mv)`` builds the packed matrices with the chosen version's
    features, ``answer(outcome)`` the response; ``not_found`` rewrites the
    message of an unknown model or version in the protocol's words.
    """
    started = time.perf_counter()
    now = time.monotonic()
    deadline = now + predictor.settings.request_timeout_ms / 1000.0
    remaining = context.time_remaining()
    if remaining is not None:
        deadline = min(deadline, now + remaining)
    labels = ["", ""]
    status = 500
    try:
        outcome = await predictor.infer(name, version, decode, deadline, labels)
        response = answer(outcome)
        status = 200
        return response
    except asyncio.CancelledError:  # the client went away or its deadline passed: queued rows are dropped
        status = 499
        raise
    except Exception as exc:
        failure = predictor.failure(exc)
        status = failure.status
        if isinstance(exc, PayloadError):
            status = 400 if status == 422 else status
            message = "; ".join(e["msg"] for e in exc.errors)
        else:
            message = str(failure.detail)
            if status == 404 and not_found is not None:
                message = not_found(message)
        await context.abort(code_of(status), message)
    finally:
        predictor.count(labels[0], labels[1], endpoint, status, time.perf_counter() - started)


class GrpcServer:
    """The app's gRPC server (see the module docstring).

    Args:
        settings: the service settings (``grpc_port``, ``host``, limits).
        predictor: the app's data plane; its registry answers status and metadata.
        shared_port: whether sibling worker processes listen on the same port (``--workers``).
    """

    def __init__(self, settings: Settings, predictor: Predictor, shared_port: bool = False) -> None:
        self.settings = settings
        self.predictor = predictor
        self.shared_port = shared_port
        self.server: grpc.aio.Server | None = None
        self.port: int | None = None
        self.services: list[str] = []

    async def start(self) -> None:
        """Binds the port (an error if it is taken) and starts serving."""
        s = self.settings
        server = grpc.aio.server(options=[
            ("grpc.max_receive_message_length", s.max_body_bytes),
            ("grpc.max_send_message_length", 64 * 1024 * 1024),
            # alone, a port in use is an error; workers share theirs
            ("grpc.so_reuseport", int(self.shared_port)),
        ])
        self.services = []
        try:
            from service.tfserving_grpc import add_tfserving_services
        except ImportError as exc:
            log.warning("TensorFlow Serving's gRPC API is not served: %s (install it with "
                        "`pip install --no-deps tensorflow-serving-api`, see the README)", exc)
        else:
            self.services += add_tfserving_services(server, self.predictor)
        try:
            from service.oip_grpc import add_oip_service
        except ImportError as exc:
            log.warning("the Open Inference Protocol's gRPC API is not served: %s (install tritonclient[grpc])", exc)
        else:
            self.services += add_oip_service(server, self.predictor)
        address = grpc_address(s.host, s.grpc_port)
        try:
            port = server.add_insecure_port(address)
        except RuntimeError as exc:
            raise RuntimeError(grpc_port_unusable(s.host, s.grpc_port, exc)) from exc
        if not port:
            raise RuntimeError(grpc_port_unusable(s.host, s.grpc_port))
        await server.start()
        self.server, self.port = server, port
        log.info("gRPC on %s: %s", address, ", ".join(self.services))

    async def stop(self, grace: float) -> None:
        """Stops taking calls; running calls have ``grace`` seconds to finish."""
        if self.server is not None:
            await self.server.stop(grace)
            self.server = None
