"""The admin API: load, activate, roll back and unload model versions; split traffic.

Every route needs ``Authorization: Bearer <CTR_ADMIN_TOKEN>`` (compared in
constant time); without a configured token the routes answer 403. Names and
versions from the URL are checked before anything touches the repository.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from service.deps import RegistryDep, require_admin
from service.errors import PayloadError
from service.http import json_response
from service.names import escape, validate_model_name, validate_version
from service.registry import RegistryError

__all__ = ["MAX_SPLIT_VERSIONS", "parse_split", "router"]

log = logging.getLogger(__name__)

MAX_SPLIT_VERSIONS = 16
_MAX_BODY = 64 * 1024


class InvalidBody(RegistryError):
    status_code = 422


class BadPath(RegistryError):
    status_code = 400


def _name(text: str) -> str:
    try:
        return validate_model_name(text, ("path", "name"))
    except PayloadError as exc:
        raise BadPath(exc.errors[0]["msg"]) from None


def _version(text: str) -> int:
    try:
        return validate_version(text, ("path", "version"))
    except PayloadError as exc:
        raise BadPath(exc.errors[0]["msg"]) from None


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
            version = validate_version(key, ("body", "split"))
        except PayloadError as exc:
            raise InvalidBody(f"split key: {exc.errors[0]['msg']}") from None
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
            raise InvalidBody(f"split[{key!r}]: the percent must be a finite number, got {weight!r}")
        if not 0 <= weight <= 100:
            raise InvalidBody(f"split[{key!r}]: the percent must lie in [0, 100], got {weight}")
        weights[version] = float(weight)
    total = sum(weights.values())
    if abs(total - 100.0) > 1e-6:
        raise InvalidBody(f"the percents of a split must sum to 100, got {total:g}")
    return weights


router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_admin)])

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Invalid model name or version in the URL."},
    401: {"description": "Missing or wrong bearer token."},
    403: {"description": "The admin API is disabled (no CTR_ADMIN_TOKEN)."},
    404: {"description": "Unknown model or version; the answer lists the known ones."},
}


def _answer(exc: RegistryError) -> Response:
    return json_response({"detail": exc.message, **exc.extra}, exc.status_code)


async def _split_body(request: Request) -> dict[int, float] | None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > _MAX_BODY:
        raise InvalidBody(f"the body is larger than {_MAX_BODY} bytes")
    body = await request.body()
    if len(body) > _MAX_BODY:
        raise InvalidBody(f"the body is larger than {_MAX_BODY} bytes")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidBody(f"the body is not valid JSON: {exc}") from None
    return parse_split(payload)


@router.get("/models", summary="Every model and version with its state, errors and traffic split", responses=_ERRORS)
async def list_models(registry: RegistryDep) -> Response:
    return json_response(registry.describe(admin=True))


@router.post("/models/{name}/versions/{version}:load", summary="Load and warm up a version (not serving yet)",
             responses={**_ERRORS, 422: {"description": "The version failed to load; it is marked failed."}})
async def load(name: str, version: str, registry: RegistryDep) -> Response:
    try:
        name, v = _name(name), _version(version)
        log.info("admin: load model %s version %s", name, v)
        mv = await registry.load(name, v)
        return json_response({"model": name, **mv.describe(admin=True)})
    except RegistryError as exc:
        return _answer(exc)


@router.post("/models/{name}/versions/{version}:activate",
             summary="Serve a version (loading it first if needed); in-flight requests finish where they started",
             responses={**_ERRORS, 409: {"description": "Unloaded while being activated."},
                        422: {"description": "The version failed to load; nothing changed."}})
async def activate(name: str, version: str, registry: RegistryDep) -> Response:
    try:
        name, v = _name(name), _version(version)
        log.info("admin: activate model %s version %s", name, v)
        await registry.activate(name, v)
        return json_response(registry.models[name].describe(admin=True))
    except RegistryError as exc:
        return _answer(exc)


@router.post("/models/{name}:rollback", summary="Serve the previously serving version again",
             responses={**_ERRORS, 409: {"description": "No previous version."}})
async def rollback(name: str, registry: RegistryDep) -> Response:
    try:
        name = _name(name)
        log.info("admin: roll back model %s", name)
        await registry.rollback(name)
        return json_response(registry.models[name].describe(admin=True))
    except RegistryError as exc:
        return _answer(exc)


@router.delete("/models/{name}/versions/{version}", summary="Unload a version once its queued requests finish",
               responses={**_ERRORS, 409: {"description": "The version serves or is in the traffic split."}})
async def unload(name: str, version: str, registry: RegistryDep) -> Response:
    try:
        name, v = _name(name), _version(version)
        log.info("admin: unload model %s version %s", name, v)
        mv = await registry.unload(name, v)
        return json_response({"model": name, **mv.describe(admin=True)})
    except RegistryError as exc:
        return _answer(exc)


@router.put("/models/{name}/traffic", summary='Split traffic between loaded versions: {"split": {"1": 90, "2": 10}}',
            responses={**_ERRORS, 409: {"description": "A version in the split is not loaded."},
                       422: {"description": "Invalid split."}})
async def traffic(name: str, request: Request, registry: RegistryDep) -> Response:
    try:
        name = _name(name)
        split = await _split_body(request)
        log.info("admin: traffic of model %s: %s", name, split)
        model = await registry.set_traffic(name, split)
        return json_response(model.describe(admin=True))
    except RegistryError as exc:
        return _answer(exc)


@router.post("/models/{name}/versions/{action}", include_in_schema=False)
async def unknown_version_action(name: str, action: str) -> Response:
    verb = action.partition(":")[2] or "(none)"
    return json_response({"detail": f"unknown action {escape(verb, 40)}: use /versions/<v>:load or /versions/<v>:activate"},
                         404)


@router.post("/models/{action}", include_in_schema=False)
async def unknown_model_action(action: str) -> Response:
    verb = action.partition(":")[2] or "(none)"
    return json_response({"detail": f"unknown action {escape(verb, 40)}: use /admin/models/<name>:rollback"}, 404)
