"""The prediction path: body -> checks -> batcher -> answer.

Kept free of FastAPI routing so that every predict-like endpoint shares it: the
body is read with a size limit, parsed with orjson, checked and turned into
numpy columns by the version's :class:`~service.codec.FeatureCodec`, scored
through the version's :class:`~service.batching.Batcher`, and answered with
orjson (numpy arrays serialised directly).
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
from service.registry import ModelRegistry, ModelVersion, RegistryError, validate_model_name, validate_version
from service.settings import Settings

__all__ = ["Predictor", "json_response", "read_body"]

log = logging.getLogger(__name__)

_TOP_LEVEL = frozenset({"model", "version", "instances", "inputs"})
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

    def resolve(self, payload: dict[str, Any]) -> ModelVersion:
        """The loaded version a parsed payload goes to."""
        name = payload.get("model")
        if name is not None:
            validate_model_name(name)
        version = payload.get("version")
        if version is not None:
            version = validate_version(version)
        return self.registry.resolve(name, version)

    @staticmethod
    async def score(mv: ModelVersion, payload: dict[str, Any], deadline: float) -> dict[str, Any]:
        """Checks a payload against a version's features and scores its rows."""
        codec, batcher = mv.codec, mv.batcher
        if codec is None or batcher is None:
            raise BatcherClosed(mv.model)
        columns, rows = codec.decode(payload)
        return await batcher.submit(columns, rows, deadline)

    async def handle(self, request: Request, endpoint: str = "predict") -> Response:
        """The whole ``POST /predict`` exchange."""
        started = time.perf_counter()
        deadline = time.monotonic() + self._timeout_s
        model_label = version_label = ""
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
            mv = self.resolve(payload)
            model_label, version_label = mv.model, mv.version_label
            try:
                outputs = await self.score(mv, payload, deadline)
            except BatcherClosed:
                # unloaded between lookup and submission: the current version answers
                mv = self.resolve(payload)
                model_label, version_label = mv.model, mv.version_label
                outputs = await self.score(mv, payload, deadline)
            if mv.single_output:
                answer = {"model": mv.model, "version": mv.version, "predictions": outputs[mv.outputs[0]]}
            else:
                answer = {"model": mv.model, "version": mv.version, "outputs": outputs}
            status = 200
            return json_response(answer)
        except PayloadError as exc:
            status = exc.status_code
            return json_response({"detail": exc.errors}, status)
        except RegistryError as exc:
            status = exc.status_code
            headers = self._retry_after if status == 503 else None
            return json_response({"detail": exc.message, **exc.extra}, status, headers)
        except Overloaded as exc:
            status = 503
            return json_response({"detail": f"overloaded: {exc}"}, status, self._retry_after)
        except DeadlineExceeded:
            status = 504
            return json_response(
                {"detail": f"no answer within the {self.settings.request_timeout_ms:g} ms deadline"}, status
            )
        except BatcherClosed:
            status = 503
            return json_response({"detail": "the model version is being unloaded"}, status, self._retry_after)
        except Exception:
            log.exception("prediction failed")
            return json_response({"detail": "internal error while scoring"}, 500)
        finally:
            self._count(model_label, version_label, endpoint, status, time.perf_counter() - started)
