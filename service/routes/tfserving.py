"""TensorFlow Serving REST compatibility: predict, model status and model metadata.

A client written for TensorFlow Serving's REST API works unchanged:

* ``POST /v1/models/{name}[/versions/{v}]:predict`` with ``{"signature_name"?,
  "instances": [...]}`` or ``{"signature_name"?, "inputs": {...}}`` (a
  prediction route: :mod:`service.routes.predict`);
* ``GET /v1/models/{name}[/versions/{v}]``: ``{"model_version_status": [...]}``;
* ``GET /v1/models/{name}[/versions/{v}]/metadata``: ``{"model_spec": ...,
  "metadata": {"signature_def": ...}}``, the SavedModel's signatures as
  TensorFlow Serving prints them, plus the bundle's ``feature_spec``.

Errors are ``{"error": "..."}`` with TensorFlow Serving's status codes.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from service.deps import RegistryDep
from service.errors import PayloadError
from service.http import json_response
from service.names import validate_model_name, validate_version
from service.registry import Model, ModelRegistry, ModelVersion, RegistryError, VersionState

__all__ = ["read_signature_defs", "router", "version_status"]

log = logging.getLogger(__name__)

_TF_STATES = {
    VersionState.LOADING: "LOADING",
    VersionState.READY: "AVAILABLE",
    VersionState.SERVING: "AVAILABLE",
    VersionState.UNLOADING: "UNLOADING",
    VersionState.FAILED: "END",
}
_TF_DTYPES = {
    "string": "DT_STRING",
    "int32": "DT_INT32",
    "int64": "DT_INT64",
    "float32": "DT_FLOAT",
    "float64": "DT_DOUBLE",
}


class _NotFound(RegistryError):
    status_code = 404


class _BadPath(RegistryError):
    status_code = 400


def _name(text: str) -> str:
    try:
        return validate_model_name(text, ("path", "name"), 400)
    except PayloadError as exc:
        raise _BadPath(exc.errors[0]["msg"]) from None


def _version(text: str) -> int:
    try:
        return validate_version(text, ("path", "version"), 400)
    except PayloadError as exc:
        raise _BadPath(exc.errors[0]["msg"]) from None


def version_status(mv: ModelVersion) -> dict[str, Any] | None:
    """One ``model_version_status`` entry; ``None`` for a version never loaded."""
    if mv.state is VersionState.UNLOADED:
        if not mv.ever_loaded:
            return None
        state = "END"
    else:
        state = _TF_STATES[mv.state]
    failed = mv.state is VersionState.FAILED
    return {
        "version": mv.version_label,
        "state": state,
        "status": {
            "error_code": (mv.error_code or "UNKNOWN") if failed else "OK",
            "error_message": (mv.error or "") if failed else "",
        },
    }


def read_signature_defs(path: Path) -> dict[str, Any] | None:
    """The serving signatures of the SavedModel in ``path``, as protobuf's JSON mapping prints them."""
    pb = path / "saved_model.pb"
    if not pb.is_file():
        return None
    from google.protobuf import json_format
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString(pb.read_bytes())
    for graph in saved_model.meta_graphs:
        if "serve" in graph.meta_info_def.tags:
            return {
                name: json_format.MessageToDict(
                    signature, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
                )
                for name, signature in sorted(graph.signature_def.items())
                if not name.startswith("__")
            }
    return None


def _tensor_info(name: str, dtype: str, shape: list[int]) -> dict[str, Any]:
    return {
        "name": name,
        "dtype": _TF_DTYPES.get(dtype, "DT_INVALID"),
        "tensor_shape": {"dim": [{"size": str(d), "name": ""} for d in shape], "unknown_rank": False},
    }


def _described_signature(mv: ModelVersion) -> dict[str, Any]:
    """``serving_default`` written from the feature spec (when the SavedModel cannot be read)."""
    spec = mv.spec or {}
    inputs = (spec.get("signature") or {}).get("inputs")
    if not inputs:
        inputs = {}
        for f in mv.decoder.features if mv.decoder is not None else []:
            inputs[f.name] = {"dtype": f.input_dtype, "shape": [-1, f.width] if f.is_list else [-1]}
    return {
        "serving_default": {
            "inputs": {
                name: _tensor_info(f"serving_default_{name}:0", info["dtype"], info["shape"])
                for name, info in inputs.items()
            },
            "outputs": {name: _tensor_info(f"{name}:0", "float32", [-1]) for name in mv.outputs},
            "method_name": "tensorflow/serving/predict",
        }
    }


def _model(registry: ModelRegistry, name: str) -> Model:
    model = registry.models.get(name)
    if model is None:
        raise _NotFound(
            f"Could not find any versions of model {name}; known models: {', '.join(sorted(registry.models)) or 'none'}"
        )
    return model


def _error(exc: RegistryError) -> Response:
    return json_response({"error": exc.message}, exc.status_code)


router = APIRouter(prefix="/v1", tags=["tensorflow serving"])
_signature_cache: dict[tuple[str, int, float | None], dict[str, Any]] = {}


def _status(registry: ModelRegistry, name: str, version: str | None) -> Response:
    try:
        model = _model(registry, _name(name))
        if version is None:
            entries = [version_status(model.versions[v]) for v in sorted(model.versions, reverse=True)]
            listed = [e for e in entries if e is not None]
            if not listed:
                raise _NotFound(f"Could not find any versions of model {name}")
            return json_response({"model_version_status": listed})
        v = _version(version)
        mv = model.versions.get(v)
        entry = version_status(mv) if mv is not None else None
        if entry is None:
            known = [str(k) for k, m in sorted(model.versions.items()) if version_status(m) is not None]
            raise _NotFound(
                f"Could not find version {v} of model {name}; versions with a status: {', '.join(known) or 'none'}"
            )
        return json_response({"model_version_status": [entry]})
    except RegistryError as exc:
        return _error(exc)


@router.get("/models/{name}", summary="Model status (TensorFlow Serving REST)")
async def model_status(name: str, registry: RegistryDep) -> Response:
    return _status(registry, name, None)


@router.get("/models/{name}/versions/{version}", summary="Version status (TensorFlow Serving REST)")
async def model_version_status(name: str, version: str, registry: RegistryDep) -> Response:
    return _status(registry, name, version)


async def _metadata(registry: ModelRegistry, name: str, version: str | None) -> Response:
    try:
        model = _model(registry, _name(name))
        if version is None:
            mv = model.serving
            if mv is None:
                raise _NotFound(f"Servable not found for request: Latest({name}): no version serves yet")
        else:
            v = _version(version)
            mv = model.versions.get(v)
            if mv is None or not mv.loaded:
                loaded = [str(k) for k, m in sorted(model.versions.items()) if m.loaded]
                raise _NotFound(
                    f"Servable not found for request: Specific({name}, {v}); "
                    f"loaded versions: {', '.join(loaded) or 'none'}"
                )
    except RegistryError as exc:
        return _error(exc)
    key = (mv.model, mv.version, mv.loaded_at)
    signatures = _signature_cache.get(key)
    if signatures is None:
        try:
            signatures = await asyncio.to_thread(read_signature_defs, mv.path)
        except Exception as exc:  # the directory may be gone while the version stays loaded
            log.warning("model %s version %s: signatures not readable: %s", mv.model, mv.version, exc)
            signatures = None
        signatures = _signature_cache[key] = signatures or _described_signature(mv)
    return json_response({
        "model_spec": {"name": mv.model, "signature_name": "", "version": mv.version_label},
        "metadata": {"signature_def": {"signature_def": signatures}, "feature_spec": mv.spec},
    })


@router.get("/models/{name}/metadata", summary="Model metadata (TensorFlow Serving REST)")
async def model_metadata(name: str, registry: RegistryDep) -> Response:
    return await _metadata(registry, name, None)


@router.get("/models/{name}/versions/{version}/metadata", summary="Version metadata (TensorFlow Serving REST)")
async def model_version_metadata(name: str, version: str, registry: RegistryDep) -> Response:
    return await _metadata(registry, name, version)


@router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"], include_in_schema=False)
async def malformed(rest: str, request: Request) -> Response:
    method = rest.rpartition(":")[2] if ":" in rest.rpartition("/")[2] else ""
    if request.method == "POST" and method in ("classify", "regress"):
        return json_response({"error": f"the {method} API is not served; use :predict"}, 501)
    return json_response({"error": f"Malformed request: {request.method} {request.url.path[:200]!r}"}, 400)
