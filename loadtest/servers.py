"""Servers under test in subprocesses: ``ctrkit serve`` and the naive FastAPI peer, ports and readiness.

Example::

    port = free_port()
    process = start_service(Path("models"), port, [], Path("serve.log"))
    try:
        wait_ready(f"http://127.0.0.1:{port}", process, 120, Path("serve.log"))
    finally:
        stop_service(process)
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["ROOT", "free_port", "port_in_use", "start_naive_peer", "start_service", "stop_service", "wait_ready"]

ROOT = Path(__file__).resolve().parents[1]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on at the moment (the system's choice)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_in_use(host: str, port: int) -> bool:
    """Whether ``host:port`` cannot be bound now (another server holds it)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def _environment() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}


def _spawn(command: list[str], log_path: Path) -> subprocess.Popen:
    with log_path.open("wb") as log:
        return subprocess.Popen(command, env=_environment(), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def start_service(
    repo: Path, port: int, serve_args: Sequence[str], log_path: Path, host: str = "127.0.0.1", grpc_port: int = 0
) -> subprocess.Popen:
    """``ctrkit serve --model-repository repo`` on ``host:port`` with ``serve_args``, output into ``log_path``.

    gRPC listens on ``grpc_port``, off by default (the service's default port
    may be taken by a service already running on the machine); a
    ``--grpc-port`` in ``serve_args`` overrides it."""
    command = [sys.executable, "-m", "ctrkit.cli", "serve", "--model-repository", str(repo), "--host", host,
               "--port", str(port), "--grpc-port", str(grpc_port), *serve_args]
    return _spawn(command, log_path)


def start_naive_peer(version_dir: Path, port: int, log_path: Path, host: str = "127.0.0.1") -> subprocess.Popen:
    """The naive FastAPI peer (``loadtest/naive_server.py``) serving ``version_dir`` on ``host:port``."""
    command = [sys.executable, "-m", "loadtest.naive_server", "--model-dir", str(version_dir), "--host", host,
               "--port", str(port)]
    return _spawn(command, log_path)


def wait_ready(url: str, process: subprocess.Popen, timeout: float, log_path: Path, path: str = "/readyz") -> None:
    """Waits until ``GET url+path`` answers 200; raises with the server's output if it exits or times out."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(f"{url}{path}", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    tail = log_path.read_text(errors="replace")[-3000:]
    state = f"exited with status {process.returncode}" if process.poll() is not None else f"not ready in {timeout:g} s"
    raise RuntimeError(f"the server at {url} {state}; its output:\n{tail}")


def stop_service(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 60 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
