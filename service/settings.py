"""Configuration of the serving service.

Every field is read from an environment variable with the prefix ``CTR_``
(``model_repository`` -> ``CTR_MODEL_REPOSITORY``) and is also a
``ctrkit serve`` option (``--model-repository``); see :mod:`service.cli`.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class VersionPolicy(str, Enum):
    """How the serving version of each model moves.

    ``latest``: a version newer than every version seen so far is loaded, warmed
    up and activated as soon as it appears in the repository; admin actions (a
    rollback, a split) stand until the next new version appears. ``specific``:
    the serving version only moves through the admin routes (pinned at start-up
    with ``model_versions``, else the newest version that loads).
    """

    LATEST = "latest"
    SPECIFIC = "specific"


class CpuAffinity(str, Enum):
    """Where the workers of ``--workers N`` run.

    ``auto``: each worker is bound to its own share of the cores the command
    may use (with as many workers as cores, one core each), so that its event
    loop, its model calls and TensorFlow's threads stay on one core's caches
    and hand work to each other without waking another core. ``off``: the
    kernel places every thread. One process (``--workers 1``) is never bound:
    its model calls run beside its event loop on another core.
    """

    AUTO = "auto"
    OFF = "off"


class LogLevel(str, Enum):
    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    DEBUG = "debug"


class Settings(BaseSettings):
    """All settings of the service, with their defaults."""

    model_config = SettingsConfigDict(
        env_prefix="CTR_", case_sensitive=False, extra="ignore", frozen=True
    )

    model_repository: Path = Field(
        Path("models"), description="Directory holding <model>/<version>/ export bundles."
    )
    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port to listen on.")
    grpc_port: int = Field(
        8500, ge=0, le=65535,
        description="gRPC port, on the same address: TensorFlow Serving's PredictionService and ModelService and "
        "the Open Inference Protocol's GRPCInferenceService (0: no gRPC server).",
    )
    admin_token: SecretStr | None = Field(
        None, description="Bearer token of the /admin routes (they answer 403 when unset or empty)."
    )
    version_policy: VersionPolicy = Field(
        VersionPolicy.LATEST, description="latest: follow new versions; specific: move only on request."
    )
    model_versions: Annotated[dict[str, int], NoDecode] = Field(
        default_factory=dict,
        description='Versions to serve at start-up, e.g. {"criteo_deepfm": 3} (JSON) or criteo_deepfm=3.',
    )
    retain_versions: int = Field(
        2, ge=1,
        description="Versions kept loaded per model after an automatic activation "
        "(the serving one and the ones before it, for instant rollback); the others are unloaded once drained.",
    )
    default_model: str | None = Field(
        None, description="Model used when a request names none (default: the only model, if one)."
    )
    poll_interval_s: float = Field(
        10.0, ge=0, description="Seconds between repository scans for new versions (0: never)."
    )
    max_batch_rows: int = Field(1024, ge=1, description="Most rows merged into one model call.")
    batch_timeout_ms: float = Field(
        1.0, ge=0,
        description="With several model workers, the longest a free worker waits for a fuller batch while another "
        "call runs (a request reaching an idle model runs at once).",
    )
    max_queue_rows: int = Field(
        8192, ge=1, description="Rows waiting per model version before requests get 503."
    )
    request_timeout_ms: float = Field(
        1000.0, gt=0, description="Deadline of a prediction request; past it the answer is 504."
    )
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1, description="Largest request body (413 above).")
    max_inflight_bytes: int = Field(
        2 * 1024 * 1024, ge=1,
        description="Bytes of request bodies read and parsed at once; a request whose declared size does not fit "
        "gets 503 before its body is read.",
    )
    max_rows_per_request: int = Field(4096, ge=1, description="Most rows in one request (422 above).")
    model_workers: int = Field(
        1, ge=1, description="Model calls running at once per model version (threads)."
    )
    workers: int = Field(
        0, ge=0, le=64,
        description="Server processes sharing the port, each with its own copy of the models "
        "(all follow the repository's declared state); 0: one per core this command may use (fewer under a "
        "container's CPU limit).",
    )
    cpu_affinity: CpuAffinity = Field(
        CpuAffinity.AUTO,
        description="With several workers, auto binds each to its own share of the usable cores (one each when "
        "there are as many workers as cores); off leaves placement to the kernel.",
    )
    model_niceness: int = Field(
        4, ge=0, le=19,
        description="How far below the event loop's the scheduling priority of the model's threads is (its calls, "
        "TensorFlow's pools, loading): where they share a core, the loop, which reads, refuses and answers "
        "requests, runs first (0: the same priority).",
    )
    tf_intra_op_threads: int = Field(
        1, ge=0, description="TensorFlow threads inside one operation (0: one per core)."
    )
    tf_inter_op_threads: int = Field(
        1, ge=0, description="TensorFlow operations run at once (0: one per core)."
    )
    retry_after_s: int = Field(1, ge=0, description="Retry-After seconds sent with 503 answers.")
    warmup_rows: int = Field(
        64, ge=1, description="Rows of the largest warm-up prediction run before a version serves."
    )
    log_level: LogLevel = Field(LogLevel.INFO, description="Logging level.")
    access_log: bool = Field(False, description="Log every request (costs throughput).")
    graceful_timeout_s: float = Field(
        30.0, ge=0, description="Longest wait for in-flight requests on shutdown."
    )
    header_timeout_s: float = Field(
        5.0, gt=0,
        description="Longest time a client may take to send a request's headers, counted from the connection's "
        "opening or the request's first byte (then 408 and the connection is closed; a connection that sent "
        "nothing is closed).",
    )
    body_timeout_s: float = Field(
        10.0, gt=0,
        description="Longest time a client may take to send a request's body once its headers arrived (408 and "
        "close); prediction requests must also send it within their deadline.",
    )
    keep_alive_timeout_s: float = Field(
        5.0, gt=0, description="Idle keep-alive connections are closed after this many seconds."
    )
    max_header_bytes: int = Field(
        16384, ge=1024, description="Largest request head (request line and headers; 431 above)."
    )
    max_connections: int = Field(
        1000, ge=0,
        description="Connections (and requests in progress) at once; past it a new request gets 503 at once "
        "and its connection is closed (0: unbounded).",
    )

    @field_validator("model_versions", mode="before")
    @classmethod
    def _parse_model_versions(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        text = value.strip()
        if not text:
            return {}
        if text.startswith("{"):
            return json.loads(text)
        pairs = {}
        for item in text.split(","):
            name, sep, version = item.partition("=")
            if not sep or not version.strip().isdigit():
                raise ValueError(f"model_versions item {item!r} is not NAME=VERSION")
            pairs[name.strip()] = int(version)
        return pairs

    @model_validator(mode="after")
    def _check_limits(self) -> "Settings":
        if self.max_rows_per_request > self.max_queue_rows:
            raise ValueError(
                f"max_rows_per_request ({self.max_rows_per_request}) must not exceed "
                f"max_queue_rows ({self.max_queue_rows}): such a request could never be queued"
            )
        return self



def grpc_address(host: str, port: int) -> str:
    """``host:port`` as gRPC writes it (IPv6 hosts in brackets).

    >>> grpc_address("127.0.0.1", 8500), grpc_address("::1", 8500)
    ('127.0.0.1:8500', '[::1]:8500')
    """
    return f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"


def grpc_port_unusable(host: str, port: int, cause: object = None) -> str:
    """The error message when the gRPC port cannot be bound, with what to do about it.

    >>> grpc_port_unusable("127.0.0.1", 8500)
    'the gRPC server cannot listen on 127.0.0.1:8500 (is the port in use? --grpc-port (CTR_GRPC_PORT) chooses another, 0 turns gRPC off)'
    """
    reason = f": {cause}" if cause is not None else ""
    return (f"the gRPC server cannot listen on {grpc_address(host, port)} (is the port in use? --grpc-port "
            f"(CTR_GRPC_PORT) chooses another, 0 turns gRPC off){reason}")
