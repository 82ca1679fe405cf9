"""The prediction path: bytes -> validated values -> packed matrices -> batcher -> answer.

Both prediction endpoints (``POST /predict`` and TensorFlow Serving's
``POST /v1/models/{name}[/versions/{v}]:predict``) go through
:meth:`Predictor.score`, which shares one prologue:

1. the request's deadline starts at its arrival;
2. before its body is read: the declared size is checked against the body limit
   (413) and against the bytes being read and parsed at once, and the rows it
   likely holds against the model's queue: either refusal is a 503 with
   ``Retry-After`` that costs next to nothing;
3. the body is read (408 if it does not arrive before the deadline; a client
   that disconnects is recorded as 499 and nothing is computed for it);
4. the version's generated pydantic models validate the raw bytes and the
   decoder writes the values into the packed matrices (422 naming feature and
   row); a body naming another model or version is decoded with that one's
   models;
5. the rows enter the version's batcher, which refuses them (503) when they
   could not be scored before the deadline, and drops them (504) if the
   deadline passes while they wait.

Every answer names the version that computed it, in the body and in the
``X-Model-Version`` header.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from service.admission import BodyBudget
from service.batching import ModelCallFailed
from service.decoding import Decoded, peek
from service.errors import DeadlineExceeded, Overloaded, PayloadError, Unavailable
from service.http import BodyTimeout, ClientGone, Receive, Send, declared_length, dumps, header, read_body, send_json
from service.metrics import ServiceMetrics
from service.names import validate_model_name, validate_version
from service.registry import ModelNotFound, ModelRegistry, ModelVersion, RegistryError
from service.settings import Settings

__all__ = ["Outcome", "Predictor"]

log = logging.getLogger(__name__)

_JSON_TYPES = (b"application/json", b"application/x-json")


@dataclass(slots=True)
class Outcome:
    """A scored request: the version that computed it, its decoded form and the outputs."""

    mv: ModelVersion
    decoded: Decoded
    outputs: dict[str, Any]


class _Failure(Exception):
    """A request that ends before scoring, with its HTTP status and message."""

    def __init__(self, status: int, detail: Any, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        self.status = status
        self.detail = detail
        self.headers = headers or []


class Predictor:
    """Answers prediction requests for an app (the data plane)."""

    def __init__(self, settings: Settings, registry: ModelRegistry, metrics: ServiceMetrics) -> None:
        self.settings = settings
        self.registry = registry
        self.metrics = metrics
        self.budget = BodyBudget(settings.max_inflight_bytes)
        self._timeout_s = settings.request_timeout_ms / 1000.0
        self._retry_after = [(b"retry-after", str(settings.retry_after_s).encode())]
        self._counters: dict[tuple[str, str, str, str], Any] = {}
        self._latency: dict[str, Any] = {}

    # -- metrics ------------------------------------------------------------------
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

    # -- the shared path ------------------------------------------------------------
    def _failure(self, exc: Exception) -> _Failure:
        if isinstance(exc, _Failure):
            return exc
        if isinstance(exc, PayloadError):
            return _Failure(exc.status_code, exc.errors)
        if isinstance(exc, RegistryError):
            return _Failure(exc.status_code, exc.message, self._retry_after if exc.status_code == 503 else None)
        if isinstance(exc, Overloaded):
            self.metrics.refused.labels("queue").inc()
            return _Failure(503, f"overloaded: {exc}", self._retry_after)
        if isinstance(exc, DeadlineExceeded):
            return _Failure(504, f"no answer within the {self.settings.request_timeout_ms:g} ms deadline")
        if isinstance(exc, Unavailable):
            return _Failure(503, "the model version is being unloaded", self._retry_after)
        if isinstance(exc, BodyTimeout):
            return _Failure(408, f"the body did not arrive within the {self.settings.request_timeout_ms:g} ms deadline",
                            [(b"connection", b"close")])
        if isinstance(exc, ModelCallFailed):
            return _Failure(500, f"the model failed on this request's rows: {exc}")
        log.error("prediction failed", exc_info=exc)
        return _Failure(500, "internal error while scoring")

    def _admit(self, scope: dict[str, Any], target: Callable[[], ModelVersion | None], tf_serving: bool,
               labels: list[str]) -> int:
        """Checks a request before its body is read; returns the bytes it holds of the budget.

        ``POST /predict`` takes JSON only (415 otherwise, a missing Content-Type
        included); TensorFlow Serving's route reads any body as JSON, as
        TensorFlow Serving does (its documented clients send none).
        """
        if not tf_serving:
            ctype = header(scope, b"content-type")
            if ctype is None or ctype.split(b";", 1)[0].strip().lower() not in _JSON_TYPES:
                sent = repr(ctype[:80].decode("latin-1")) if ctype is not None else "none"
                raise PayloadError.single(
                    f"unsupported content type {sent}: send the body as application/json",
                    "unsupported_media_type", ("header", "content-type"), status_code=415,
                )
        size = declared_length(scope, self.settings.max_body_bytes)
        if size is None:
            return 0
        mv = target()
        if mv is not None and mv.batcher is not None:
            labels[:] = mv.model, mv.version_label
            rows = mv.estimate.rows(size)
            if rows and not mv.batcher.has_room(rows):
                self.metrics.refused.labels("queue").inc()
                raise _Failure(503, f"overloaded: the queue has no room for about {rows} rows", self._retry_after)
        if not self.budget.acquire(size):
            self.metrics.refused.labels("body_bytes").inc()
            raise _Failure(503, "overloaded: too many request bytes being read", self._retry_after)
        return size

    async def score(self, scope: dict[str, Any], receive: Receive, name: str | None, version: int | None,
                    tf_serving: bool, labels: list[str], deadline: float) -> Outcome:
        """The whole path from an accepted request to its scores (see the module docstring)."""
        held = self._admit(scope, lambda: self.registry.guess(name, version), tf_serving, labels)
        try:
            body = await read_body(receive, self.settings.max_body_bytes, deadline)
            mv, decoded = self._decode(self._target(body, name, version), body, tf_serving, labels)
        finally:
            self.budget.release(held)
        if time.monotonic() >= deadline:
            raise DeadlineExceeded("the deadline passed while the request was read and parsed")
        mv.estimate.record(len(body), decoded.rows)
        try:
            outputs = await mv.submit(decoded.packed, decoded.rows, deadline)
        except Unavailable:  # the version stopped taking work (an unload drains it): the current one answers
            mv, decoded = self._decode(self._target(body, name, version), body, tf_serving, labels)
            outputs = await mv.submit(decoded.packed, decoded.rows, deadline)
        return Outcome(mv, decoded, outputs)

    def _target(self, body: bytes, name: str | None, version: int | None) -> ModelVersion:
        """The version whose models decode ``body`` first: the route's choice, or the one the body names
        when the service holds several models and no default."""
        try:
            return self.registry.resolve(name, version)
        except PayloadError:
            envelope = peek(body)  # refuses a body that is not a JSON object
            if envelope.model is None:
                raise
            return self.registry.resolve(validate_model_name(envelope.model),
                                         validate_version(envelope.version) if envelope.version is not None else None)

    def _decode(self, mv: ModelVersion, body: bytes, tf_serving: bool, labels: list[str]) -> tuple[ModelVersion, Decoded]:
        """Decodes ``body`` with ``mv``'s models, or with those of the model/version the body names."""
        labels[:] = mv.model, mv.version_label
        try:
            decoded = mv.decoder.decode(body, tf_serving)
        except PayloadError as exc:
            named = self._named(mv, *exc.named)
            if named is None or named.decoder is mv.decoder:
                raise
            labels[:] = named.model, named.version_label
            return named, named.decoder.decode(body, tf_serving)
        if decoded.version is None and decoded.model is None:
            return mv, decoded
        named = self._named(mv, decoded.model, decoded.version)
        if named is None or named is mv:
            return mv, decoded
        labels[:] = named.model, named.version_label
        if named.decoder is mv.decoder:
            return named, decoded
        return named, named.decoder.decode(body, tf_serving)

    def _named(self, mv: ModelVersion, model: Any, version: Any) -> ModelVersion | None:
        """The version a body names, if it names one other than ``mv``."""
        if model is None and version is None:
            return None
        if model is not None:
            model = validate_model_name(model)
        if version is not None:
            version = validate_version(version)
        if (model is None or model == mv.model) and (version is None or version == mv.version):
            return None
        return self.registry.resolve(model if model is not None else mv.model, version)

    # -- endpoints --------------------------------------------------------------------
    async def predict(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        """``POST /predict``."""
        await self._serve(scope, receive, send, "predict", None, None, False)

    async def tf_predict(self, scope: dict[str, Any], receive: Receive, send: Send, name: str,
                         version: str | None) -> None:
        """``POST /v1/models/{name}[/versions/{version}]:predict``, as TensorFlow Serving answers it.

        The row form (``instances``) answers ``predictions``: one score per row
        for a single output, one object of outputs per row otherwise. The column
        form (``inputs``) answers ``outputs``: the list of scores for a single
        output, an object of lists otherwise. Errors are ``{"error": "..."}``
        with TensorFlow Serving's status codes (invalid argument: 400).
        ``model_spec`` names the version that answered, as in the gRPC API.
        """
        await self._serve(scope, receive, send, "tf_predict", name, version, True)

    async def _serve(self, scope: dict[str, Any], receive: Receive, send: Send, endpoint: str,
                     name: str | None, version_text: str | None, tf_serving: bool) -> None:
        started = time.perf_counter()
        deadline = time.monotonic() + self._timeout_s
        labels = ["", ""]
        status = 500
        try:
            version = None
            if tf_serving:
                name = validate_model_name(name, ("path", "name"), 400)
                if version_text is not None:
                    version = validate_version(version_text, ("path", "version"), 400)
            outcome = await self.score(scope, receive, name, version, tf_serving, labels, deadline)
            body = self._tf_answer(outcome) if tf_serving else self._answer(outcome)
            status = 200
            await send_json(send, 200, body, [(b"x-model-version", outcome.mv.version_label.encode())])
        except ClientGone:
            status = 499
        except Exception as exc:
            failure = self._failure(exc)
            status, body = self._error_body(failure, exc, tf_serving, name, version_text)
            await send_json(send, status, body, failure.headers)
        finally:
            self._count(labels[0], labels[1], endpoint, status, time.perf_counter() - started)

    @staticmethod
    def _answer(outcome: Outcome) -> bytes:
        mv, outputs = outcome.mv, outcome.outputs
        if mv.single_output:
            return dumps({"model": mv.model, "version": mv.version, "predictions": outputs[mv.outputs[0]]})
        return dumps({"model": mv.model, "version": mv.version, "outputs": outputs})

    @staticmethod
    def _tf_answer(outcome: Outcome) -> bytes:
        mv, outputs = outcome.mv, outcome.outputs
        answer: dict[str, Any]
        if outcome.decoded.form == "instances":
            if mv.single_output:
                answer = {"predictions": outputs[mv.outputs[0]]}
            else:
                columns = [outputs[o].tolist() for o in mv.outputs]
                answer = {"predictions": [dict(zip(mv.outputs, row)) for row in zip(*columns)]}
        else:
            answer = {"outputs": outputs[mv.outputs[0]] if mv.single_output else outputs}
        answer["model_spec"] = {"name": mv.model, "version": mv.version_label, "signature_name": "serving_default"}
        return dumps(answer)

    @staticmethod
    def _error_body(failure: _Failure, exc: Exception, tf_serving: bool, name: str | None,
                    version: str | None) -> tuple[int, bytes]:
        """Status and body of a failed request: ``{"detail": ...}``, or TensorFlow Serving's ``{"error": ...}``."""
        if not tf_serving:
            extra = exc.extra if isinstance(exc, RegistryError) else {}
            return failure.status, dumps({"detail": failure.detail, **extra})
        status = failure.status
        if isinstance(exc, PayloadError):
            message = "; ".join(e["msg"] for e in exc.errors)
            status = 400 if status == 422 else status
        elif isinstance(exc, ModelNotFound):
            spec = f"Specific({name}, {version})" if version is not None else f"Latest({name})"
            message = f"Servable not found for request: {spec}: {failure.detail}"
        else:
            message = str(failure.detail)
        return status, dumps({"error": message})
