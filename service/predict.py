"""The prediction path: body -> checks -> batcher -> answer.

Kept free of FastAPI routing so that every predict-like endpoint shares it
(``POST /predict`` and the TensorFlow Serving compatible
``POST /v1/models/{name}[/versions/{v}]:predict``): the body is read with a
size limit, parsed with orjson, checked and turned into numpy columns by the
version's :class:`~service.codec.FeatureCodec`, scored through the version's
:class:`~service.batching.Batcher`, and answered with orjson (numpy arrays
serialised directly). Every answer names the version that computed it, in the
body and in the ``X-Model-Version`` header.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from service.batching import BatcherClosed, DeadlineExceeded, Overloaded
from service.codec import PayloadError
from service.metrics import ServiceMetrics
from service.registry import (
    ModelNotFound,
    ModelRegistry,
    ModelVersion,
    RegistryError,
    parse_model_name,
    parse_version,
    validate_model_name,
    validate_version,
)
from service.settings import Settings

__all__ = ["Predictor", "json_response", "read_body"]

log = logging.getLogger(__name__)

_TOP_LEVEL = frozenset({"model", "version", "instances", "inputs"})
_TF_TOP_LEVEL = frozenset({"signature_name", "instances", "inputs"})
_TF_SIGNATURES = frozenset({"", "serving_default"})
_DUMPS_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def json_response(content: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(content, option=_DUMPS_OPTIONS), status_code=status_code,
        headers=headers, media_type="application/json",
    )


class BodyTooLarge(PayloadError):
    """A body over the size limit (answer 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            [{"loc": ["body"], "msg": f"request body larger than {limit} bytes", "type": "too_large",
              "feature": None, "row": None}],
            status_code=413,
        )


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) past ``limit`` bytes, declared or streamed."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise PayloadError.single("invalid Content-Length header", "value_error", status_code=400)
        if int(declared) > limit:
            raise BodyTooLarge(limit)
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def parse_json(body: bytes) -> Any:
    """Parses with orjson; falls back to the standard parser, which also reads
    ``NaN``/``Infinity`` and huge integers, so that such values are refused with
    the feature and row named rather than as unreadable JSON."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise PayloadError.single(f"the body is not valid JSON: {exc}", "json_invalid") from None


class Predictor:
    """Answers prediction requests for an app."""

    def __init__(self, settings: Settings, registry: ModelRegistry, metrics: ServiceMetrics) -> None:
        self.settings = settings
        self.registry = registry
        self.metrics = metrics
        self._timeout_s = settings.request_timeout_ms / 1000.0
        self._retry_after = {"Retry-After": str(settings.retry_after_s)}
        self._counters: dict[tuple[str, str, str, str], Any] = {}
        self._latency: dict[str, Any] = {}

    def _count(self, model: str, version: str, endpoint: str, status: int, seconds: float) -> None:
        key = (model, version, endpoint, str(status))
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = self.metrics.requests.labels(*key)
        counter.inc()
        hist = self._latency.get(endpoint)
        if hist is None:
            hist = self._latency[endpoint] = self.metrics.request_latency.labels(endpoint)
        hist.observe(seconds)

    @staticmethod
    async def score(mv: ModelVersion, payload: dict[str, Any], deadline: float) -> dict[str, Any]:
        """Checks a payload against a version's features and scores its rows.

        Nothing awaits between the caller's lookup of ``mv`` and the rows
        entering ``mv``'s queue: a route switch cannot slip in between, and an
        unload drains what is queued.
        """
        codec, batcher = mv.codec, mv.batcher
        if codec is None or batcher is None:
            raise BatcherClosed(mv.model)
        columns, rows = codec.decode(payload)
        return await batcher.submit(columns, rows, deadline)

    async def _run(
        self, name: str | None, version: int | None, payload: dict[str, Any], deadline: float, labels: list[str]
    ) -> tuple[ModelVersion, dict[str, Any]]:
        """Resolves the version and scores the payload; ``labels`` gets its metric labels."""
        mv = self.registry.resolve(name, version)
        labels[:] = mv.model, mv.version_label
        try:
            outputs = await self.score(mv, payload, deadline)
        except BatcherClosed:
            # the version stopped taking work (shutdown drains it): the current one answers, if any
            mv = self.registry.resolve(name, version)
            labels[:] = mv.model, mv.version_label
            outputs = await self.score(mv, payload, deadline)
        return mv, outputs

    def _failure(self, exc: Exception) -> tuple[int, Any, dict[str, Any], dict[str, str] | None]:
        """HTTP status, detail, extra fields and headers of a failed prediction."""
        if isinstance(exc, PayloadError):
            return exc.status_code, exc.errors, {}, None
        if isinstance(exc, RegistryError):
            headers = self._retry_after if exc.status_code == 503 else None
            return exc.status_code, exc.message, exc.extra, headers
        if isinstance(exc, Overloaded):
            return 503, f"overloaded: {exc}", {}, self._retry_after
        if isinstance(exc, DeadlineExceeded):
            return 504, f"no answer within the {self.settings.request_timeout_ms:g} ms deadline", {}, None
        if isinstance(exc, BatcherClosed):
            return 503, "the model version is being unloaded", {}, self._retry_after
        log.error("prediction failed", exc_info=exc)
        return 500, "internal error while scoring", {}, None

    async def handle(self, request: Request, endpoint: str = "predict") -> Response:
        """The whole ``POST /predict`` exchange."""
        started = time.perf_counter()
        deadline = time.monotonic() + self._timeout_s
        labels = ["", ""]
        status = 500
        try:
            body = await read_body(request, self.settings.max_body_bytes)
            payload = parse_json(body)
            if type(payload) is not dict:
                raise PayloadError.single("the body must be a JSON object", "type_error")
            extra = payload.keys() - _TOP_LEVEL
            if extra:
                raise PayloadError.single(
                    f"unknown field(s) {', '.join(sorted(map(str, extra)))}; "
                    "a request holds 'instances' or 'inputs', and optionally 'model' and 'version'",
                    "extra_forbidden",
                )
            name = payload.get("model")
            if name is not None:
                validate_model_name(name)
            version = payload.get("version")
            if version is not None:
                version = validate_version(version)
            mv, outputs = await self._run(name, version, payload, deadline, labels)
            if mv.single_output:
                answer = {"model": mv.model, "version": mv.version, "predictions": outputs[mv.outputs[0]]}
            else:
                answer = {"model": mv.model, "version": mv.version, "outputs": outputs}
            status = 200
            return json_response(answer, headers={"X-Model-Version": mv.version_label})
        except Exception as exc:
            status, detail, extra_fields, headers = self._failure(exc)
            return json_response({"detail": detail, **extra_fields}, status, headers)
        finally:
            self._count(labels[0], labels[1], endpoint, status, time.perf_counter() - started)

    async def handle_tf(self, request: Request, name: str, version: str | None) -> Response:
        """``POST /v1/models/{name}[/versions/{version}]:predict``, as TensorFlow Serving answers it.

        The row form (``instances``) answers ``predictions``: one score per row
        for a single output, one object of outputs per row otherwise. The column
        form (``inputs``) answers ``outputs``: the list of scores for a single
        output, an object of lists otherwise. Errors are ``{"error": "..."}``
        with TensorFlow Serving's status codes (invalid argument: 400).
        ``model_spec`` names the version that answered, as in the gRPC API.
        """
        started = time.perf_counter()
        deadline = time.monotonic() + self._timeout_s
        labels = ["", ""]
        status = 500
        v: int | None = None
        try:
            name = parse_model_name(name)
            v = parse_version(version) if version is not None else None
            body = await read_body(request, self.settings.max_body_bytes)
            payload = parse_json(body)
            if type(payload) is not dict:
                raise PayloadError.single("the body must be a JSON object", "type_error")
            extra = payload.keys() - _TF_TOP_LEVEL
            if extra:
                raise PayloadError.single(
                    f"unknown field(s) {', '.join(sorted(map(str, extra)))}; "
                    "a request holds 'instances' or 'inputs', and optionally 'signature_name'",
                    "extra_forbidden",
                )
            signature = payload.get("signature_name")
            if signature is not None and signature not in _TF_SIGNATURES:
                raise PayloadError.single(
                    f'Serving signature name: "{signature}" not found in signature def '
                    '(requests are served by "serving_default")',
                    "value_error", ("body", "signature_name"),
                )
            mv, outputs = await self._run(name, v, payload, deadline, labels)
            answer: dict[str, Any]
            if "instances" in payload:
                if mv.single_output:
                    answer = {"predictions": outputs[mv.outputs[0]]}
                else:
                    columns = [outputs[o].tolist() for o in mv.outputs]
                    answer = {"predictions": [dict(zip(mv.outputs, row)) for row in zip(*columns)]}
            else:
                answer = {"outputs": outputs[mv.outputs[0]] if mv.single_output else outputs}
            answer["model_spec"] = {
                "name": mv.model, "version": mv.version_label, "signature_name": "serving_default",
            }
            status = 200
            return json_response(answer, headers={"X-Model-Version": mv.version_label})
        except Exception as exc:
            status, detail, _, headers = self._failure(exc)
            if isinstance(exc, PayloadError):
                message = "; ".join(e["msg"] for e in exc.errors)
                status = 400 if status == 422 else status
            elif isinstance(exc, ModelNotFound):
                request_spec = f"Specific({name}, {v})" if v is not None else f"Latest({name})"
                message = f"Servable not found for request: {request_spec}: {detail}"
            else:
                message = str(detail)
            return json_response({"error": message}, status, headers)
        finally:
            self._count(labels[0], labels[1], "tf_predict", status, time.perf_counter() - started)
