"""The operator's choice for a model, kept in the repository: ``<repository>/<model>/serving.json``.

Every process that serves the repository (worker processes on one host,
replicas on many) reads this file on each poll and follows it; the admin routes
of whichever process answers write it. A write takes an exclusive lock
(``.serving.lock`` beside it), reads the current file, writes the new one under
a temporary name, flushes it to disk and renames it into place, so a reader
sees the old file or the new one, never half of one, and two admin calls
through two processes cannot lose one another's change.

The file (format 1)::

    {
      "format": 1,
      "generation": 7,                 # one more at every write; processes report the one they applied
      "serving": 3,                    # the pinned version, or "latest": follow the newest version that loads
      "split": {"3": 90, "4": 10},     # canary percents of requests naming no version (null: none)
      "keep_loaded": [2, 3, 4],        # versions held loaded (answering requests that name them)
      "history": [1, 2],               # versions that served alone before, oldest first (rollback targets)
      "latest_seen": 4,                # newest loadable version when written (see the version policy)
      "written_at": "2025-01-01T12:00:00Z",
      "written_by": "host-a:4711"
    }

>>> state = DeclaredState(generation=1, serving=2, split={"1": 90, "2": 10}, history=[1])
>>> state.split, state.members()
({1: 90.0, 2: 10.0}, [1, 2])
>>> DeclaredState.model_validate_json(render(state)) == state
True
"""

from __future__ import annotations

import fcntl
import math
import os
import socket
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = [
    "FILE_NAME",
    "LOCK_NAME",
    "MAX_FILE_BYTES",
    "MAX_HISTORY",
    "DeclaredState",
    "MalformedState",
    "Stamp",
    "read",
    "render",
    "stamp",
    "update",
]

FILE_NAME = "serving.json"
LOCK_NAME = ".serving.lock"
MAX_FILE_BYTES = 64 * 1024
MAX_HISTORY = 32
MAX_SPLIT = 16

Version = int
Stamp = tuple[int, int, int]  # inode, size, modification time (ns): a rename into place changes it


class MalformedState(Exception):
    """``serving.json`` exists but cannot be used; ``message`` says why (the last good state stays)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _versions(values: list[int], what: str, limit: int) -> list[int]:
    if len(values) > limit:
        raise ValueError(f"{what} holds at most {limit} versions, got {len(values)}")
    for v in values:
        if v < 1:
            raise ValueError(f"{what}: versions are positive integers, got {v}")
    return values


class DeclaredState(BaseModel):
    """One model's declared state (the content of ``serving.json``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal[1] = 1
    generation: int = Field(ge=0, description="One more at every write (0: nothing written yet).")
    serving: Literal["latest"] | int = Field(description='The pinned version, or "latest".')
    split: dict[int, float] | None = Field(None, description="Canary percents by version, or null.")
    keep_loaded: list[int] = Field(default_factory=list, description="Versions held loaded.")
    history: list[int] = Field(default_factory=list, description="Versions that served alone before, oldest first.")
    latest_seen: int | None = Field(
        None, ge=0, description="Newest loadable version when written (None: no later version replaces a pin)."
    )
    written_at: str | None = None
    written_by: str | None = None

    @field_validator("keep_loaded")
    @classmethod
    def _keep(cls, value: list[int]) -> list[int]:
        return sorted(set(_versions(value, "keep_loaded", 256)))

    @field_validator("history")
    @classmethod
    def _history(cls, value: list[int]) -> list[int]:
        return _versions(value, "history", MAX_HISTORY)

    @model_validator(mode="after")
    def _check(self) -> "DeclaredState":
        if self.serving != "latest" and self.serving < 1:
            raise ValueError(f"serving: a version is a positive integer, got {self.serving}")
        if self.split is not None:
            if self.serving == "latest":
                raise ValueError('a split names its versions: "serving" must be one of them, not "latest"')
            if not 2 <= len(self.split) <= MAX_SPLIT:
                raise ValueError(f"a split has 2 to {MAX_SPLIT} versions, got {len(self.split)}")
            _versions(list(self.split), "split", MAX_SPLIT)
            for v, weight in self.split.items():
                if not (math.isfinite(weight) and 0 < weight <= 100):
                    raise ValueError(f"split: version {v} has percent {weight}; percents lie in (0, 100]")
            if abs(sum(self.split.values()) - 100.0) > 1e-6:
                raise ValueError(f"split: the percents sum to {sum(self.split.values()):g}, not 100")
            if self.serving not in self.split:
                raise ValueError(f"serving version {self.serving} is not in the split")
        return self

    def members(self) -> list[int]:
        """The versions that take requests naming no version (empty when following the latest)."""
        if self.split:
            return sorted(self.split)
        return [] if self.serving == "latest" else [self.serving]


def render(state: DeclaredState) -> bytes:
    """The file's bytes (indented JSON, versions as object keys in a split)."""
    return orjson.dumps(state.model_dump(mode="json"), option=orjson.OPT_INDENT_2) + b"\n"


def stamp(model_dir: Path) -> Stamp | None:
    """Identifies the file's current content cheaply (``None``: no file)."""
    try:
        st = os.stat(model_dir / FILE_NAME)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def _parse(path: Path, data: bytes) -> DeclaredState:
    if len(data) > MAX_FILE_BYTES:
        raise MalformedState(f"{path}: larger than {MAX_FILE_BYTES} bytes")
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise MalformedState(f"{path}: not valid JSON: {exc}") from None
    if isinstance(raw, dict) and raw.get("format", 1) != 1:
        raise MalformedState(f"{path}: format {raw.get('format')!r} is not one this service reads (1)")
    try:
        return DeclaredState.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg']}" for e in exc.errors(include_url=False)[:3]
        )
        raise MalformedState(f"{path}: {problems}") from None


def read(model_dir: Path) -> DeclaredState | None:
    """The model's declared state; ``None`` without a file; :class:`MalformedState` for a bad one."""
    path = model_dir / FILE_NAME
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise MalformedState(f"{path}: cannot be read: {exc}") from None
    return _parse(path, data)


@contextmanager
def _locked(model_dir: Path) -> Iterator[None]:
    fd = os.open(model_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _write(model_dir: Path, state: DeclaredState) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{FILE_NAME}.", suffix=".tmp", dir=model_dir)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(render(state))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, model_dir / FILE_NAME)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(model_dir, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a crash
    finally:
        os.close(dir_fd)


def update(
    model_dir: Path,
    change: Callable[[DeclaredState | None], DeclaredState],
    fallback: DeclaredState | None = None,
) -> DeclaredState:
    """Reads, changes and writes the model's declared state under the lock; returns what was written.

    ``change`` gets the current state (None without a file; ``fallback``, the
    last good state, when the file is malformed) and returns the new one; the
    generation (one more than any seen) and the ``written_*`` fields are set
    here. Exceptions from ``change`` leave the file as it was. Blocking: call it
    from a worker thread.
    """
    with _locked(model_dir):
        try:
            base = read(model_dir)
        except MalformedState:
            base = fallback
        seen = [s.generation for s in (base, fallback) if s is not None]
        new = change(base).model_copy(update={
            "generation": max(seen, default=0) + 1,
            "written_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "written_by": f"{socket.gethostname()}:{os.getpid()}",
        })
        new = DeclaredState.model_validate(new.model_dump())  # what is written is valid
        _write(model_dir, new)
        return new
