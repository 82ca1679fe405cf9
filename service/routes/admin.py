"""The admin API: load, activate, roll back and unload model versions; split traffic.

Every route needs ``Authorization: Bearer <CTR_ADMIN_TOKEN>`` (compared in
constant time); without a configured token the routes answer 403. Names and
versions from the URL are checked before anything touches the repository.

A change is written to the model's declared state in the repository
(``<model>/serving.json``) and applied by this process before the answer;
every other process serving the repository follows within one poll interval.
``GET /admin/models`` shows, per model, the declared state, the generation this
process applied and whether it has converged.
"""

from __future__ import annotations

import logging
import math
import sys
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from service.contract import AdminModelInfo, AdminModels, AdminVersion, responses
from service.deps import RegistryDep, require_admin
from service.errors import PayloadError
from service.http import json_response
from service.names import escape, validate_model_name, validate_version
from service.process import usable_cpus
from service.registry import ModelRegistry, RegistryError

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

_UNWRITABLE = {503: "The declared state cannot be written here (a read-only repository)."}


def _generations(registry: ModelRegistry, name: str) -> dict[str, Any]:
    """The declared state's generation (what the change was written as) and the one this process applied."""
    model = registry.models.get(name)
    if model is None:
        return {}
    return {"declared_generation": model.state.generation, "applied_generation": model.applied_generation}


def _process(request: Request) -> dict[str, Any]:
    """The answering process: host, pid, worker index, the cores it may run on, TensorFlow's thread pools and its
    settings (token hidden)."""
    info = dict(request.app.state.process)
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        info["tf_threads"] = {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                              "inter_op": tf.config.threading.get_inter_op_parallelism_threads()}
    info["cpus"] = usable_cpus()
    info["settings"] = request.app.state.settings.model_dump(mode="json")
    return info


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


@router.get("/models", summary="Every model and version with its state, errors, traffic split and declared state",
            responses=responses(AdminModels, 401, 403))
async def list_models(request: Request, registry: RegistryDep) -> Response:
    return json_response({"process": _process(request), **registry.describe(admin=True)})


@router.post("/models/{name}/versions/{version}:load", summary="Load and warm up a version (not serving yet)",
             responses=responses(AdminVersion, 400, 401, 403, 404, 422, 503,
                                 why={422: "The version failed to load; it is marked failed.", **_UNWRITABLE}))
async def load(name: str, version: str, registry: RegistryDep) -> Response:
    try:
        name, v = _name(name), _version(version)
        log.info("admin: load model %s version %s", name, v)
        mv = await registry.load(name, v)
        return json_response({"model": name, **mv.describe(admin=True), **_generations(registry, name)})
    except RegistryError as exc:
        return _answer(exc)


@router.post("/models/{name}/versions/{version}:activate",
             summary="Serve a version (loading it first if needed), or `latest` to follow the newest version; "
                     "in-flight requests finish where they started",
             responses=responses(AdminModelInfo, 400, 401, 403, 404, 409, 422, 503,
                                 why={409: "Unloaded while being activated.",
                                      422: "The version failed to load; nothing changed.", **_UNWRITABLE}))
async def activate(name: str, version: str, registry: RegistryDep) -> Response:
    try:
        name = _name(name)
        if version == "latest":
            log.info("admin: model %s follows the latest version", name)
            model = await registry.follow_latest(name)
            return json_response(model.describe(admin=True))
        v = _version(version)
        log.info("admin: activate model %s version %s", name, v)
        await registry.activate(name, v)
        return json_response(registry.models[name].describe(admin=True))
    except RegistryError as exc:
        return _answer(exc)


@router.post("/models/{name}:rollback", summary="Serve the previously serving version again",
             responses=responses(AdminModelInfo, 400, 401, 403, 404, 409, 503,
                                 why={409: "No previous version.", **_UNWRITABLE}))
async def rollback(name: str, registry: RegistryDep) -> Response:
    try:
        name = _name(name)
        log.info("admin: roll back model %s", name)
        await registry.rollback(name)
        return json_response(registry.models[name].describe(admin=True))
    except RegistryError as exc:
        return _answer(exc)


@router.delete("/models/{name}/versions/{version}", summary="Unload a version once its queued requests finish",
               responses=responses(AdminVersion, 400, 401, 403, 404, 409, 503,
                                   why={409: "The version serves or is in the traffic split.", **_UNWRITABLE}))
async def unload(name: str, version: str, registry: RegistryDep) -> Response:
    try:
        name, v = _name(name), _version(version)
        log.info("admin: unload model %s version %s", name, v)
        mv = await registry.unload(name, v)
        return json_response({"model": name, **mv.describe(admin=True), **_generations(registry, name)})
    except RegistryError as exc:
        return _answer(exc)


@router.put("/models/{name}/traffic", summary='Split traffic between loaded versions: {"split": {"1": 90, "2": 10}}',
            responses=responses(AdminModelInfo, 400, 401, 403, 404, 408, 409, 422, 503,
                                why={400: "Invalid model name in the URL, or a split without a positive weight.",
                                     409: "A version in the split is not loaded.", 422: "Invalid split.",
                                     **_UNWRITABLE}),
            openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/TrafficSplit"}}}}})
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
