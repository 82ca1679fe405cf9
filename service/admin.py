"""The admin API: load, activate, roll back and unload model versions; split traffic.

Every route needs ``Authorization: Bearer <CTR_ADMIN_TOKEN>`` (compared in
constant time); without a configured token the routes answer 403. Names and
versions from the URL are checked before anything touches the repository.
"""

from __future__ import annotations

import hmac
import logging
import math
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.responses import Response

from service.codec import PayloadError
from service.predict import json_response, parse_json, read_body
from service.registry import ModelRegistry, RegistryError, parse_model_name, parse_version
from service.settings import Settings

__all__ = ["MAX_SPLIT_VERSIONS", "admin_router", "parse_split"]

log = logging.getLogger(__name__)

MAX_SPLIT_VERSIONS = 16
_MAX_BODY = 64 * 1024
_DISABLED = "the admin API is disabled: start the service with CTR_ADMIN_TOKEN set to enable it"


class InvalidBody(RegistryError):
    status_code = 422


def parse_split(payload: Any) -> dict[int, float] | None:
    """The ``{"split": {"<version>": percent, ...}}`` body as ``{version: percent}``.

    Percents are finite numbers in ``[0, 100]`` summing to 100; ``null`` or an
    empty object clears the split.
    """
    if type(payload) is not dict or set(payload) != {"split"}:
        raise InvalidBody('the body must be {"split": {"<version>": <percent>, ...}} (or {"split": null})')
    split = payload["split"]
    if split is None or split == {}:
        return None
    if type(split) is not dict:
        raise InvalidBody("'split' must be an object of version -> percent")
    if len(split) > MAX_SPLIT_VERSIONS:
        raise InvalidBody(f"a split holds at most {MAX_SPLIT_VERSIONS} versions, got {len(split)}")
    weights: dict[int, float] = {}
    for key, weight in split.items():
        try:
            version = parse_version(key)
        except RegistryError as exc:
            raise InvalidBody(f"split key: {exc.message}") from None
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
            raise InvalidBody(f"split[{key!r}]: the percent must be a finite number, got {weight!r}")
        if not 0 <= weight <= 100:
            raise InvalidBody(f"split[{key!r}]: the percent must lie in [0, 100], got {weight}")
        weights[version] = float(weight)
    total = sum(weights.values())
    if abs(total - 100.0) > 1e-6:
        raise InvalidBody(f"the percents of a split must sum to 100, got {total:g}")
    return weights


def _answer(exc: RegistryError) -> Response:
    return json_response({"detail": exc.message, **exc.extra}, exc.status_code)


def admin_router(settings: Settings) -> APIRouter:
    """The ``/admin`` routes; handlers use ``app.state.registry``."""
    token = settings.admin_token.get_secret_value().encode() if settings.admin_token else b""
    bearer = HTTPBearer(auto_error=False, description="The service's CTR_ADMIN_TOKEN.")

    async def require_admin(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        if not token:
            raise HTTPException(403, _DISABLED)
        if credentials is None or not credentials.credentials:
            raise HTTPException(
                401, "admin routes need the header 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": 'Bearer realm="ctrkit admin"'},
            )
        if not hmac.compare_digest(credentials.credentials.encode(), token):
            raise HTTPException(
                401, "invalid admin token",
                headers={"WWW-Authenticate": 'Bearer realm="ctrkit admin", error="invalid_token"'},
            )

    router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_admin)])
    errors: dict[int | str, dict[str, Any]] = {
        400: {"description": "Invalid model name or version in the URL."},
        401: {"description": "Missing or wrong bearer token."},
        403: {"description": "The admin API is disabled (no CTR_ADMIN_TOKEN)."},
        404: {"description": "Unknown model or version; the answer lists the known ones."},
    }

    def registry_of(request: Request) -> ModelRegistry:
        return request.app.state.registry

    @router.get("/models", summary="Every model and version with its state, errors and traffic split",
                responses=errors)
    async def list_models(request: Request) -> Response:
        return json_response(registry_of(request).describe(admin=True))

    @router.post("/models/{name}/versions/{version}:load", summary="Load and warm up a version (not serving yet)",
                 responses={**errors, 422: {"description": "The version failed to load; it is marked failed."}})
    async def load(name: str, version: str, request: Request) -> Response:
        try:
            name, v = parse_model_name(name), parse_version(version)
            log.info("admin: load model %s version %s", name, v)
            mv = await registry_of(request).load(name, v)
            return json_response({"model": name, **mv.describe(admin=True)})
        except RegistryError as exc:
            return _answer(exc)

    @router.post("/models/{name}/versions/{version}:activate",
                 summary="Serve a version (loading it first if needed); in-flight requests finish where they started",
                 responses={**errors, 409: {"description": "Unloaded while being activated."},
                            422: {"description": "The version failed to load; nothing changed."}})
    async def activate(name: str, version: str, request: Request) -> Response:
        try:
            name, v = parse_model_name(name), parse_version(version)
            log.info("admin: activate model %s version %s", name, v)
            registry = registry_of(request)
            await registry.activate(name, v)
            return json_response(registry.models[name].describe(admin=True))
        except RegistryError as exc:
            return _answer(exc)

    @router.post("/models/{name}:rollback", summary="Serve the previously serving version again",
                 responses={**errors, 409: {"description": "No previous version."}})
    async def rollback(name: str, request: Request) -> Response:
        try:
            name = parse_model_name(name)
            log.info("admin: roll back model %s", name)
            registry = registry_of(request)
            await registry.rollback(name)
            return json_response(registry.models[name].describe(admin=True))
        except RegistryError as exc:
            return _answer(exc)

    @router.delete("/models/{name}/versions/{version}", summary="Unload a version once its queued requests finish",
                   responses={**errors, 409: {"description": "The version serves or is in the traffic split."}})
    async def unload(name: str, version: str, request: Request) -> Response:
        try:
            name, v = parse_model_name(name), parse_version(version)
            log.info("admin: unload model %s version %s", name, v)
            mv = await registry_of(request).unload(name, v)
            return json_response({"model": name, **mv.describe(admin=True)})
        except RegistryError as exc:
            return _answer(exc)

    @router.put("/models/{name}/traffic", summary='Split traffic between loaded versions: {"split": {"1": 90, "2": 10}}',
                responses={**errors, 409: {"description": "A version in the split is not loaded."},
                           422: {"description": "Invalid split."}})
    async def traffic(name: str, request: Request) -> Response:
        try:
            name = parse_model_name(name)
            try:
                split = parse_split(parse_json(await read_body(request, _MAX_BODY)))
            except PayloadError as exc:
                raise InvalidBody("; ".join(e["msg"] for e in exc.errors)) from None
            log.info("admin: traffic of model %s: %s", name, split)
            model = await registry_of(request).set_traffic(name, split)
            return json_response(model.describe(admin=True))
        except RegistryError as exc:
            return _answer(exc)

    @router.post("/models/{name}/versions/{action}", include_in_schema=False)
    async def unknown_version_action(name: str, action: str) -> Response:
        verb = action.partition(":")[2] or "(none)"
        return json_response(
            {"detail": f"unknown action {verb[:40]!r}: use /versions/<v>:load or /versions/<v>:activate"}, 404
        )

    @router.post("/models/{action}", include_in_schema=False)
    async def unknown_model_action(action: str) -> Response:
        verb = action.partition(":")[2] or "(none)"
        return json_response({"detail": f"unknown action {verb[:40]!r}: use /admin/models/<name>:rollback"}, 404)

    return router
