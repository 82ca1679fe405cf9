"""The answers of the FastAPI routes as the OpenAPI document states them: every status, with its body.

The routes return ready-made responses (orjson bodies), so these models only
document; ``tests/service/test_service_fuzz.py`` holds the service to them
(schemathesis checks every answer's status and body against the document).
:func:`responses` builds a route's ``responses=``; :func:`complete` finishes
the whole document: the patterns of model names and versions in paths (the
handlers check them and answer 400, so FastAPI does not), and the answers
the server itself may give on any route before it runs (408 and 431 for a
slow or oversized request head, 503 past ``max_connections``).

>>> sorted(responses(Readiness, 503))
[200, 503]
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "NAME_PATTERN",
    "VERSION_PATTERN",
    "AdminModels",
    "AdminVersion",
    "Detail",
    "Health",
    "ModelInfo",
    "Models",
    "Readiness",
    "TFError",
    "TFMetadata",
    "TFStatus",
    "TrafficSplit",
    "complete",
    "responses",
]

# service.names: letters, digits, '_', '-', '.', starting with a letter or digit, no '..', at most 128
NAME_PATTERN = r"^[A-Za-z0-9](?:\.?[A-Za-z0-9_-])*\.?$"
# a positive integer of at most 18 digits
VERSION_PATTERN = r"^0*[1-9][0-9]*$"


class Detail(BaseModel):
    """An error of the service's own routes; some carry more (``known``: the known models or versions)."""

    model_config = ConfigDict(extra="allow")
    detail: str | list[dict[str, Any]]


class TFError(BaseModel):
    """An error of the TensorFlow Serving routes."""

    error: str


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str = Field(description='"ready", or "not ready" (503) while no version is loaded')
    loaded: list[str] = Field(description="Loaded versions as model/version.")


class VersionInfo(BaseModel):
    version: int
    state: str = Field(description="unloaded, loading, ready, serving, unloading or failed")
    error: str | None = Field(None, description="Why the version failed to load (a short reason on public routes).")
    outputs: list[str] | None = None
    signature: str | None = None
    loaded_at: float | None = None
    load_seconds: float | None = None
    queued_rows: int | None = None


class AdminVersionInfo(VersionInfo):
    path: str = Field(description="The version's directory.")
    error_code: str | None = None
    failed_at: float | None = Field(None, description="When the version failed to load (Unix time).")
    running_calls: int | None = None


class ModelInfo(BaseModel):
    name: str
    serving: int | None = Field(description="The version answering requests that name none.")
    traffic: dict[str, float] | None = Field(description="Percent of requests per version, when split.")
    versions: list[VersionInfo]


class Models(BaseModel):
    models: list[ModelInfo]


class AdminModelInfo(ModelInfo):
    versions: list[AdminVersionInfo]  # type: ignore[assignment]
    rollback_to: int | None = None
    declared: dict[str, Any] | None = Field(
        None, description="The model's declared state (serving.json) in force; null without a file.")
    declared_error: str | None = Field(None, description="Why the file on disk is ignored, while it is malformed.")
    applied_generation: int | None = Field(None, description="The declared generation this process serves.")
    applied_at: float | None = Field(None, description="When this process reached it (Unix time).")
    following_latest: bool | None = Field(None, description="The route follows the newest version that loads.")
    blocked: str | None = Field(None, description="Why this process cannot serve the declared state, if it cannot.")
    converged: bool | None = Field(None, description="This process serves what the declared state asks for.")


class AdminModels(BaseModel):
    process: dict[str, Any] = Field(
        description="The answering process: host, pid, worker index, the cores it may run on (cpus), TensorFlow's thread pools, settings.")
    version_policy: str
    poll_interval_s: float
    retain_versions: int
    models: list[AdminModelInfo]


class AdminVersion(AdminVersionInfo):
    model: str
    declared_generation: int | None = Field(None, description="The generation the change was declared as.")
    applied_generation: int | None = Field(None, description="The generation this process serves now.")


class _Status(BaseModel):
    error_code: str
    error_message: str


class _VersionStatus(BaseModel):
    version: str
    state: str = Field(description="LOADING, AVAILABLE, UNLOADING or END")
    status: _Status


class TFStatus(BaseModel):
    model_version_status: list[_VersionStatus]


class _ModelSpec(BaseModel):
    name: str
    signature_name: str
    version: str


class _Metadata(BaseModel):
    signature_def: dict[str, Any]
    feature_spec: dict[str, Any] | None


class TFMetadata(BaseModel):
    model_spec: _ModelSpec
    metadata: _Metadata


Percent = Annotated[float, Field(ge=0, le=100)]
VersionKey = Annotated[str, Field(pattern=VERSION_PATTERN, max_length=18)]


class TrafficSplit(BaseModel):
    """``{"split": {"<version>": percent, ...}}``: percents summing to 100; null or {} clears the split."""

    model_config = ConfigDict(extra="forbid")
    split: Annotated[dict[VersionKey, Percent], Field(max_length=16)] | None


_WHY = {
    400: "Invalid model name or version in the URL.",
    401: "Missing or wrong bearer token.",
    403: "The admin API is disabled (no CTR_ADMIN_TOKEN).",
    404: "Unknown model or version; the answer lists the known ones.",
    408: "The body did not arrive in time.",
    409: "The request contradicts the current state.",
    422: "Invalid body, or the version failed to load.",
    503: "No version is loaded yet.",
}


def responses(ok: type[BaseModel], *errors: int, tf: bool = False,
              why: dict[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route answering ``ok`` with 200 and ``errors`` with :class:`Detail`
    (:class:`TFError` for ``tf``); ``why`` overrides the descriptions."""
    texts = {**_WHY, **(why or {})}
    answers: dict[int | str, dict[str, Any]] = {200: {"model": ok, "description": "Success"}}
    for status in errors:
        model = ok if status == 503 and ok is Readiness else TFError if tf else Detail
        answers[status] = {"model": model, "description": texts.get(status, "")}
    return answers


_TEXT = {"text/plain": {"schema": {"type": "string"}}}
_JSON_DETAIL = {"application/json": {"schema": {"$ref": "#/components/schemas/Detail"}}}
_SERVER_ANSWERS = {
    "408": ("The request head did not arrive within header_timeout_s (the server closes the connection).",
            _JSON_DETAIL),
    "431": ("The request head is larger than max_header_bytes (the server closes the connection).", _JSON_DETAIL),
    "503": ("More connections than max_connections (the server closes the connection).", _TEXT),
}


def complete(document: dict[str, Any], served: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """Adds the path parameters' patterns and the server's own answers to every operation of ``document``;
    ``served`` (``{"name": [...], "version": [...]}``) gives the path parameters' examples."""
    served = served or {}
    document.setdefault("components", {}).setdefault("schemas", {}).setdefault(
        "Detail", Detail.model_json_schema(ref_template="#/components/schemas/{model}"))
    for item in document.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for parameter in operation.get("parameters", []):
                if parameter.get("in") != "path":
                    continue
                if parameter["name"] == "name":
                    parameter["schema"] = {"type": "string", "pattern": NAME_PATTERN, "maxLength": 128}
                elif parameter["name"] == "version":
                    parameter["schema"] = {"type": "string", "pattern": VERSION_PATTERN, "maxLength": 18}
                else:
                    continue
                if served.get(parameter["name"]):
                    parameter["examples"] = {value: {"value": value} for value in served[parameter["name"]]}
            answers = operation["responses"]
            for status, (text, content) in _SERVER_ANSWERS.items():
                if status not in answers:
                    answers[status] = {"description": text, "content": content}
                else:
                    answers[status].setdefault("content", {})
                    for media, body in content.items():
                        answers[status]["content"].setdefault(media, body)
    return document
