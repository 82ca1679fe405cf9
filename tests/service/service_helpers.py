"""Test helpers: a uvicorn server in a thread, and fake bundles without TensorFlow."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import uvicorn

from service.app import create_app
from service.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerThread:
    """Runs an app under uvicorn (uvloop, httptools) in a thread of its own."""

    def __init__(self, app: Any, port: int) -> None:
        self.app = app
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, loop="uvloop", http="httptools",
            log_level="warning", access_log=False, lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> "ServerThread":
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@contextmanager
def serve(settings: Settings, loader: Any = None, wait_ready: bool = True) -> Iterator[ServerThread]:
    """A started server for ``settings`` (its port is replaced by a free one)."""
    port = free_port()
    settings = settings.model_copy(update={"port": port})
    server = ServerThread(create_app(settings, loader=loader), port).start()
    try:
        if wait_ready:
            wait_until_ready(server.url)
        yield server
    finally:
        server.stop()


def wait_until_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(f"{url}/readyz").status_code == 200:
            return
        time.sleep(0.02)
    raise RuntimeError("the service did not become ready")


def wait_until_serving(url: str, names: list[str], timeout: float = 120) -> None:
    """Waits until every model in ``names`` has a serving version."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        serving = {m["name"]: m["serving"] for m in httpx.get(f"{url}/models").json()["models"]}
        if all(serving.get(name) is not None for name in names):
            return
        time.sleep(0.05)
    raise RuntimeError(f"not every model of {names} serves")


def settings(repo: Path, **overrides: Any) -> Settings:
    base = {"model_repository": repo, "poll_interval_s": 0, "log_level": "warning"}
    return Settings(**{**base, **overrides})


# -- fake bundles --------------------------------------------------------------------

def fake_score(columns: dict[str, Any]) -> np.ndarray:
    """A deterministic per-row function of every input, in (0, 1)."""
    total = None
    for name in sorted(columns):
        arr = np.asarray(columns[name])
        if arr.dtype == object:
            part = np.vectorize(len, otypes=[np.float64])(arr) * 0.07
        else:
            part = arr.astype(np.float64) * 0.013
        part = part.reshape(part.shape[0], -1).sum(axis=1)
        total = part if total is None else total + part
    return (1.0 / (1.0 + np.exp(-(total - 1.0)))).astype(np.float32)


class FakeBundle:
    """Stands in for :class:`ctrkit.export.Bundle`; ``delay`` slows each call, and a call whose
    strings hold ``poison`` fails, as a model call can fail on one request's content."""

    def __init__(self, path: Path, delay: float = 0.0) -> None:
        self.path = Path(path)
        self.spec = json.loads((self.path / "feature_spec.json").read_text())
        self.delay = delay
        self.calls: list[int] = []

    @property
    def name(self) -> str:
        return self.spec["model"]["name"]

    @property
    def version(self) -> int:
        return int(self.spec["model"]["version"])

    @property
    def output_names(self) -> list[str]:
        return list(self.spec["model"]["outputs"])

    def signature(self, **columns: Any) -> dict[str, np.ndarray]:
        if self.delay:
            time.sleep(self.delay)
        rows = len(next(iter(columns.values())))
        self.calls.append(rows)
        for value in columns.values():
            arr = np.asarray(value)
            if arr.dtype == object and any(b"poison" in (v if isinstance(v, bytes) else str(v).encode())
                                           for v in arr.ravel()):
                raise ValueError("the model cannot score 'poison'")
        base = fake_score(columns)
        return {name: (base + i * 0.001).astype(np.float32) for i, name in enumerate(self.output_names)}


def fake_spec(name: str, version: int, outputs: tuple[str, ...] = ("ctr",)) -> dict[str, Any]:
    return {
        "format_version": 1,
        "model": {
            "name": name, "class": "Fake", "version": version,
            "tasks": [{"name": o, "type": "binary"} for o in outputs], "outputs": list(outputs),
        },
        "features": [
            {"name": "C1", "kind": "sparse", "dtype": "string", "vocabulary_size": 1000, "use_hash": True,
             "vocabulary": None, "embedding_dim": 4, "default": ""},
            {"name": "user_id", "kind": "sparse", "dtype": "int32", "vocabulary_size": 120, "use_hash": False,
             "vocabulary": None, "embedding_dim": 4, "default": None},
            {"name": "I1", "kind": "dense", "dtype": "float32", "dimension": 1, "default": 0.0},
            {"name": "genres", "kind": "varlen", "dtype": "string", "vocabulary_size": 100, "use_hash": True,
             "vocabulary": None, "maxlen": 5, "combiner": "mean", "length_name": "genres_len",
             "weight_name": None, "default": []},
            {"name": "genres_len", "kind": "length", "dtype": "int32", "length_of": "genres", "default": None},
        ],
    }


def write_fake_model(repo: Path, name: str, version: int, outputs: tuple[str, ...] = ("ctr",)) -> Path:
    path = repo / name / str(version)
    path.mkdir(parents=True)
    (path / "feature_spec.json").write_text(json.dumps(fake_spec(name, version, outputs)))
    return path


class FakeLoader:
    """``path -> FakeBundle``, remembering the bundles it made."""

    def __init__(self, delay: float = 0.0, fail: set[str] | None = None) -> None:
        self.delay = delay
        self.fail = fail or set()
        self.bundles: dict[str, FakeBundle] = {}

    def __call__(self, path: Path) -> FakeBundle:
        key = f"{Path(path).parent.name}/{Path(path).name}"
        if key in self.fail:
            raise ValueError(f"cannot load {key}")
        bundle = self.bundles[key] = FakeBundle(path, self.delay)
        return bundle


# -- admin API and metrics -------------------------------------------------------------

TOKEN = "test-admin-token-7f3a"


def admin_headers(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def metric_value(text: str, name: str, **labels: str) -> float:
    """The value of the sample ``name`` whose labels include ``labels`` in a /metrics text."""
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0])) if "{" in line else {}
            if all(found.get(k) == v for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} {labels} not in /metrics")


def raw_request(url: str, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """Sends ``path`` byte for byte (clients normalise ``..`` segments away); status and body."""
    host, port = url.removeprefix("http://").split(":")
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Content-Length: 0", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body
