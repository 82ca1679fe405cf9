"""The service's ASGI application, built by :func:`create_app` from :class:`Settings`.

Two parts share one process and one event loop: the prediction routes
(:mod:`service.routes.predict`), plain ASGI endpoints that take the hot path,
and a FastAPI application for everything else (admin, models, health, metrics,
TensorFlow Serving status and metadata, the Open Inference Protocol's health
and metadata, the OpenAPI document and ``/docs``, which also describes the
prediction routes). The gRPC server (:mod:`service.grpc_server`, on
``CTR_GRPC_PORT``) runs on the same event loop and starts and stops with the
app's lifespan.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi_offline import FastAPIOffline
from starlette.responses import Response

from service.clients import bounded_receive, install_handlers
from service.contract import TrafficSplit, complete
from service.http import Receive, Send
from service.metrics import ServiceMetrics
from service.predict import Predictor
from service.registry import BundleLoader, ModelRegistry
from service.routes import admin, metrics, models, oip, tfserving
from service.routes.predict import PredictRoutes, openapi_paths
from service.settings import Settings
from service.workers import WorkerSlot, join_workers

__all__ = ["ServiceApp", "create_app", "worker_app"]

log = logging.getLogger(__name__)

_DESCRIPTION = """\
Scores raw feature rows with exported ctrkit models.

`POST /predict` takes the row form `{"instances": [{feature: value}, ...]}`, the
column form `{"inputs": {feature: [values]}}` or the ranking form
`{"context": {feature: value}, "candidates": [{feature: value}, ...]}`,
optionally with `"model"` and `"version"`. The request schemas below are
generated from the feature spec of every loaded model version and are what the
service validates. The `/v1` routes speak TensorFlow Serving's REST API, the
`/v2` routes the Open Inference Protocol (JSON or binary tensors); the
`/admin` routes (bearer token) load, activate, roll back and unload versions
and split traffic between them.
"""


class ServiceApp:
    """Sends prediction requests to their endpoints and every other request to FastAPI."""

    def __init__(self, api: FastAPI, predict_routes: PredictRoutes, body_timeout_s: float = 10.0) -> None:
        self.api = api
        self.predict_routes = predict_routes
        self.state = api.state
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            endpoint = self.predict_routes.match(scope)
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
            receive = bounded_receive(receive, self.body_timeout_s)  # 408 past it (service.clients)
        await self.api(scope, receive, send)


def create_app(
    settings: Settings | None = None, *, loader: BundleLoader | None = None, worker: WorkerSlot | None = None
) -> ServiceApp:
    """Builds the service.

    Args:
        settings: configuration; read from ``CTR_*`` environment variables when omitted.
        loader: ``path -> bundle``; :func:`ctrkit.export.load_bundle` by default.
        worker: this process's place among the workers sharing a port (``--workers``); None when it serves alone.
            A worker answers its siblings' metrics requests, tells them when it has written a model's declared
            state (they follow it at once rather than at their next poll) and takes connections only once its first
            load is done.
    """
    settings = settings or Settings()
    service_metrics = ServiceMetrics(
        states=lambda: registry.version_states(), depths=lambda: registry.queue_depths(),
        traffic=lambda: registry.traffic(), declared=lambda: registry.declared_states(),
    )
    registry = ModelRegistry(settings, service_metrics, loader)
    predictor = Predictor(settings, registry, service_metrics)
    grpc_server = None
    if settings.grpc_port:
        from service.grpc_server import GrpcServer

        grpc_server = GrpcServer(settings, predictor, shared_port=worker is not None)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.admin_token and settings.admin_token.get_secret_value():
            log.info("admin API enabled at /admin (bearer token from CTR_ADMIN_TOKEN)")
        else:
            log.warning("admin API disabled: set CTR_ADMIN_TOKEN to enable the /admin routes")
        if grpc_server is not None:
            await grpc_server.start()  # first: a port in use stops the start-up before anything runs
        registry.start()
        try:
            if worker is not None:
                async def answer(request: str) -> bytes:
                    if request == "metrics":
                        return service_metrics.exposition()
                    verb, _, name = request.partition(" ")
                    if verb == "follow" and name:
                        registry.follow_soon(name)
                        return b"ok"
                    return b""

                await worker.listen(answer)
                registry.on_declared = worker.tell_siblings_to_follow
                await registry.wait_initial_load()
            yield
        finally:
            if grpc_server is not None:  # running calls finish before the batchers drain
                await grpc_server.stop(settings.graceful_timeout_s)
            if worker is not None:
                await worker.close()
            await registry.close()

    # /docs and /redoc load their scripts from the installed fastapi-offline package, not a CDN:
    # serving hosts often have no internet access
    api = FastAPIOffline(
        title="ctrkit serving", description=_DESCRIPTION, version="1", lifespan=lifespan,
        default_response_class=Response,
    )
    api.state.settings = settings
    api.state.metrics = service_metrics
    api.state.registry = registry
    api.state.predictor = predictor
    api.state.grpc = grpc_server
    api.state.worker = worker
    api.state.process = {"host": socket.gethostname(), "pid": os.getpid(),
                         "worker": worker.index if worker is not None else None}
    for group in (models, admin, tfserving, oip, metrics):
        api.include_router(group.router)
    install_handlers(api)

    cache: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if cache.get("generation") != registry.generation:
            schema = get_openapi(title=api.title, version=api.version, description=api.description, routes=api.routes)
            paths, components = openapi_paths(
                mv.decoder.schemas for mv in registry.loaded_versions() if mv.decoder is not None
            )
            schema["paths"] = {**paths, **schema.get("paths", {})}
            schema.setdefault("components", {}).setdefault("schemas", {}).update(components)
            schema["components"]["schemas"].setdefault(
                "TrafficSplit", TrafficSplit.model_json_schema(ref_template="#/components/schemas/{model}"))
            loaded = list(registry.loaded_versions())
            complete(schema, {"name": sorted({mv.model for mv in loaded}),
                              "version": sorted({mv.version_label for mv in loaded}, key=int)})
            cache.update(generation=registry.generation, schema=schema)
        return cache["schema"]

    api.openapi = openapi  # type: ignore[method-assign]
    return ServiceApp(api, PredictRoutes(predictor), settings.body_timeout_s)


def worker_app() -> ServiceApp:
    """The app of one worker process under ``ctrkit serve --workers N`` (uvicorn's factory, see :mod:`service.workers`)."""
    settings, slot = join_workers()
    return create_app(settings, worker=slot)
