"""Models and health: which models and versions exist, liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from service.deps import RegistryDep
from service.http import json_response

__all__ = ["router"]

router = APIRouter()


@router.get("/models", summary="Models, their versions and states", tags=["models"])
async def list_models(registry: RegistryDep) -> Response:
    return json_response(registry.describe())


@router.get("/healthz", summary="Liveness", tags=["health"])
async def healthz() -> Response:
    return json_response({"status": "ok"})


@router.get("/readyz", summary="Readiness: a model version is loaded and warmed up", tags=["health"],
            responses={503: {"description": "No version is loaded yet."}})
async def readyz(registry: RegistryDep) -> Response:
    loaded = [f"{mv.model}/{mv.version}" for mv in registry.loaded_versions()]
    if loaded:
        return json_response({"status": "ready", "loaded": loaded})
    return json_response({"status": "not ready", "loaded": []}, 503)
