"""The prediction routes: ``POST /predict`` and TensorFlow Serving's ``:predict``.

They are plain ASGI endpoints matched before FastAPI's router: on a 1-row
request FastAPI's request and response machinery costs about twice what the
rest of the request does (measured: 127 against 42 microseconds per request on
the same uvicorn server), and these routes take every prediction. Their OpenAPI
description is written here from the generated pydantic models of every loaded
version, so ``/docs`` documents exactly what they validate.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from service.http import Receive, Send, dumps, send_json
from service.predict import Predictor
from service.schemas import VersionSchemas

__all__ = ["PredictRoutes", "openapi_paths"]

Endpoint = Callable[[dict[str, Any], Receive, Send], Awaitable[None]]

PREDICT_PATH = "/predict"
TF_PREDICT_PATH = "/v1/models/{name}/versions/{version}:predict"
TF_PREDICT_LATEST_PATH = "/v1/models/{name}:predict"
_TF_PREDICT = re.compile(r"/v1/models/([^/]+?)(?:/versions/([^/]+))?:predict")
_NOT_ALLOWED = dumps({"detail": "Method Not Allowed; use POST"})


async def _method_not_allowed(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    await send_json(send, 405, _NOT_ALLOWED, [(b"allow", b"POST")])


class PredictRoutes:
    """Matches a request to a prediction endpoint, or None for the other routes."""

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor

    def match(self, scope: dict[str, Any]) -> Endpoint | None:
        path = scope["path"]
        if path == PREDICT_PATH:
            return self.predictor.predict if scope["method"] == "POST" else _method_not_allowed
        if path.startswith("/v1/models/") and path.endswith(":predict") and scope["method"] == "POST":
            found = _TF_PREDICT.fullmatch(path)
            if found is not None:
                return partial(self.predictor.tf_predict, name=found[1], version=found[2])
        return None


_COMMON_ERRORS = {
    "404": "Unknown model or version; the answer lists the known ones.",
    "408": "The body did not arrive before the request's deadline.",
    "413": "Body larger than the limit.",
    "415": "The body is not sent as application/json.",
    "500": "The model failed on this request's own rows (its batch neighbours are not affected).",
    "503": "Overloaded (refused before the work is done) or no version loaded yet; see Retry-After.",
    "504": "No answer within the request deadline; the rows were not scored.",
}


def _error_model(tf_serving: bool) -> dict[str, Any]:
    if tf_serving:
        return {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
    item = {
        "type": "object",
        "properties": {
            "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
            "msg": {"type": "string"}, "type": {"type": "string"},
            "feature": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "row": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        },
    }
    return {
        "type": "object",
        "properties": {"detail": {"anyOf": [{"type": "string"}, {"type": "array", "items": item}]}},
        "required": ["detail"],
    }


def _operation(summary: str, description: str, requests: list[str], answers: list[str], tf_serving: bool,
               parameters: list[dict[str, Any]]) -> dict[str, Any]:
    error = {"application/json": {"schema": _error_model(tf_serving)}}
    invalid = ("400", "Invalid payload or path; the message names the feature and the row.") if tf_serving else (
        "422", "Invalid payload; every item names the feature and the row.")
    responses: dict[str, Any] = {
        "200": {
            "description": "One score per row, from the version named in the answer (and in X-Model-Version).",
            "content": {"application/json": {"schema": {"oneOf": [{"$ref": r} for r in answers]} if answers
                                             else {"type": "object"}}},
        },
        invalid[0]: {"description": invalid[1], "content": error},
    }
    if tf_serving:
        responses["501"] = {"description": "classify and regress are not served.", "content": error}
    for status, text in _COMMON_ERRORS.items():
        responses[status] = {"description": text, "content": error}
    body = {"oneOf": [{"$ref": r} for r in requests]} if requests else {"type": "object"}
    operation = {
        "tags": ["tensorflow serving" if tf_serving else "predict"],
        "summary": summary,
        "description": description,
        "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        "responses": responses,
    }
    if parameters:
        operation["parameters"] = parameters
    return operation


def _path_parameter(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def openapi_paths(versions: Iterable[VersionSchemas]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The OpenAPI path items of the prediction routes and the component schemas they refer to."""
    schemas = list({id(s): s for s in versions}.values())
    inputs: list[tuple[type[BaseModel], str]] = [pair for s in schemas for pair in s.documented()]
    keys, defs = models_json_schema(inputs, ref_template="#/components/schemas/{model}") if inputs else ({}, {})

    def refs(kind: str) -> list[str]:
        picked = {"predict": lambda s: s.request, "tf": lambda s: s.tf_request, "answer": lambda s: s.response}[kind]
        mode = "serialization" if kind == "answer" else "validation"
        return [keys[(picked(s), mode)]["$ref"] for s in schemas]

    predict = _operation(
        "Score rows",
        "Rows (`instances`), columns (`inputs`) or a ranking request (`context` sent once with `candidates`), "
        "optionally naming `model` and `version`.",
        refs("predict"), refs("answer"), False, [],
    )
    tf_doc = ("TensorFlow Serving REST predict: `instances` (answered as `predictions`) or `inputs` "
              "(answered as `outputs`); errors are `{\"error\": ...}`.")
    paths = {
        PREDICT_PATH: {"post": predict},
        TF_PREDICT_LATEST_PATH: {"post": _operation("Predict (TensorFlow Serving REST)", tf_doc, refs("tf"), [],
                                                    True, [_path_parameter("name")])},
        TF_PREDICT_PATH: {"post": _operation("Predict with a version (TensorFlow Serving REST)", tf_doc, refs("tf"),
                                             [], True, [_path_parameter("name"), _path_parameter("version")])},
    }
    return paths, defs.get("$defs", {})
