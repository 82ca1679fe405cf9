"""The FastAPI application: built by :func:`create_app` from :class:`Settings`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema
from starlette.responses import Response

from service.admin import admin_router
from service.metrics import CONTENT_TYPE_LATEST, ServiceMetrics
from service.predict import Predictor, json_response
from service.registry import BundleLoader, ModelRegistry
from service.settings import Settings
from service.tfserving import build_router as tfserving_router

__all__ = ["create_app"]

log = logging.getLogger(__name__)

_DESCRIPTION = """\
Scores raw feature rows with exported ctrkit models.

`POST /predict` takes the row form `{"instances": [{feature: value}, ...]}` or the
column form `{"inputs": {feature: [values]}}`, optionally with `"model"` and
`"version"`. The request schemas below are generated from the feature spec of
every loaded model version. The `/v1` routes speak TensorFlow Serving's REST API;
the `/admin` routes (bearer token) load, activate, roll back and unload versions
and split traffic between them.
"""


async def get_predictor(request: Request) -> Predictor:
    return request.app.state.predictor


async def get_registry(request: Request) -> ModelRegistry:
    return request.app.state.registry


async def get_metrics(request: Request) -> ServiceMetrics:
    return request.app.state.metrics


def _predict_openapi(registry: ModelRegistry, schema: dict[str, Any]) -> None:
    """Puts every loaded version's request and answer models into the document."""
    versions = [mv for mv in registry.loaded_versions() if mv.schemas is not None]
    operation = schema.get("paths", {}).get("/predict", {}).get("post")
    if operation is None:
        return
    if not versions:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
        return
    inputs = []
    for mv in versions:
        assert mv.schemas is not None
        inputs += [(m, "validation") for m in mv.schemas.request_models()]
        inputs.append((mv.schemas.response, "serialization"))
    keys, defs = models_json_schema(inputs, ref_template="#/components/schemas/{model}")
    schema.setdefault("components", {}).setdefault("schemas", {}).update(defs.get("$defs", {}))
    request_refs = [keys[(m, mode)] for m, mode in inputs if mode == "validation"]
    response_refs = [keys[(m, mode)] for m, mode in inputs if mode == "serialization"]
    operation["requestBody"] = {
        "required": True,
        "content": {"application/json": {"schema": {"oneOf": request_refs}}},
    }
    operation.setdefault("responses", {})["200"] = {
        "description": "One score per row, from the version named in the answer.",
        "content": {"application/json": {"schema": {"oneOf": response_refs}}},
    }


def create_app(settings: Settings | None = None, *, loader: BundleLoader | None = None) -> FastAPI:
    """Builds the service.

    Args:
        settings: configuration; read from ``CTR_*`` environment variables when omitted.
        loader: ``path -> bundle``; :func:`ctrkit.export.load_bundle` by default.
    """
    settings = settings or Settings()
    metrics = ServiceMetrics(
        states=lambda: registry.version_states(), depths=lambda: registry.queue_depths(),
        traffic=lambda: registry.traffic(),
    )
    registry = ModelRegistry(settings, metrics, loader)
    predictor = Predictor(settings, registry, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.admin_token and settings.admin_token.get_secret_value():
            log.info("admin API enabled at /admin (bearer token from CTR_ADMIN_TOKEN)")
        else:
            log.warning("admin API disabled: set CTR_ADMIN_TOKEN to enable the /admin routes")
        registry.start()
        try:
            yield
        finally:
            await registry.close()

    app = FastAPI(
        title="ctrkit serving",
        description=_DESCRIPTION,
        version="1",
        lifespan=lifespan,
        default_response_class=Response,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.registry = registry
    app.state.predictor = predictor

    responses: dict[int | str, dict[str, Any]] = {
        404: {"description": "Unknown model or version; the answer lists the known ones."},
        413: {"description": "Body larger than the limit."},
        422: {"description": "Invalid payload; every item names the feature and the row."},
        503: {"description": "Overloaded or no version loaded yet; see Retry-After."},
        504: {"description": "No answer within the request deadline."},
    }

    @app.post("/predict", summary="Score rows", responses=responses, tags=["predict"])
    async def predict(
        request: Request, predictor: Annotated[Predictor, Depends(get_predictor)]
    ) -> Response:
        return await predictor.handle(request, "predict")

    @app.get("/models", summary="Models, their versions and states", tags=["models"])
    async def list_models(registry: Annotated[ModelRegistry, Depends(get_registry)]) -> Response:
        return json_response(registry.describe())

    @app.get("/healthz", summary="Liveness", tags=["health"])
    async def healthz() -> Response:
        return json_response({"status": "ok"})

    @app.get("/readyz", summary="Readiness: a model version is loaded and warmed up", tags=["health"])
    async def readyz(registry: Annotated[ModelRegistry, Depends(get_registry)]) -> Response:
        loaded = [f"{mv.model}/{mv.version}" for mv in registry.loaded_versions()]
        if loaded:
            return json_response({"status": "ready", "loaded": loaded})
        return json_response({"status": "not ready", "loaded": []}, 503)

    app.include_router(admin_router(settings))
    app.include_router(tfserving_router())

    @app.get("/metrics", summary="Prometheus metrics", tags=["health"])
    async def prometheus(metrics: Annotated[ServiceMetrics, Depends(get_metrics)]) -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    cache: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if cache.get("generation") != registry.generation:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            _predict_openapi(registry, schema)
            cache.update(generation=registry.generation, schema=schema)
        return cache["schema"]

    app.openapi = openapi  # type: ignore[method-assign]
    return app
