"""Several server processes on one port: ``ctrkit serve --workers N`` (``CTR_WORKERS``).

uvicorn's supervisor binds the port and starts N worker processes (spawn, so
each imports TensorFlow itself and holds its own copy of every model), each
listening on a socket of its own on that port (:func:`listen_on_own_socket`);
it restarts a worker that dies and, on SIGTERM, stops them all and waits while
each drains its in-flight and queued requests; a worker whose supervisor dies,
even killed outright, is stopped by the kernel (:func:`die_with_supervisor`).
Every worker gets the settings the command line and the ``CTR_*`` variables
gave the supervisor, binds itself to its share of the cores
(``CTR_CPU_AFFINITY``) and sets TensorFlow's thread pools from them
(:func:`service.process.prepare_process`), and follows the repository's
declared state like any other process.

Workers coordinate through a private directory:

* each claims the lowest free index ``i`` by locking ``worker-<i>.lock`` (a
  restarted worker takes the index of the one it replaces) and listens on
  ``worker-<i>.sock`` for its siblings;
* a worker that writes a model's declared state (an admin call) tells the
  others over those sockets, and they follow it at once rather than at their
  next repository poll;
* ``/metrics`` on the shared port answers for every worker: the worker that
  takes the scrape asks the others for their exposition over those sockets and
  labels each series with ``worker="<i>"``. Observations stay in each
  process's memory, so the request path costs the same as with one process.

A worker accepts connections only once its first load is done, so a request
never meets a worker that has no model yet. Each worker also runs its own gRPC
server on the shared gRPC port (``SO_REUSEPORT``): the kernel spreads gRPC
connections over the workers as it does HTTP ones.
"""

from __future__ import annotations

import asyncio
import fcntl
import itertools
import json
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from service.process import LOG_FORMAT, prepare_process
from service.settings import Settings, grpc_port_unusable

__all__ = [
    "ENV", "PortUnavailable", "WorkerSlot", "check_grpc_port", "handed_over", "join_workers", "listen_on_own_socket",
    "port_group_socket", "serve_workers", "settings_payload",
]

log = logging.getLogger(__name__)

ENV = "CTRKIT_WORKER_CONFIG"  # what the supervisor hands its workers (not a CTR_ setting)
_PEER_TIMEOUT_S = 2.0


def settings_payload(settings: Settings) -> dict[str, Any]:
    """The settings as plain JSON values, secrets included, such that ``Settings(**payload) == settings``.

    >>> settings = Settings(admin_token="s3cret", workers=2, model_versions={"ads": 3})
    >>> payload = settings_payload(settings)
    >>> payload["admin_token"], payload["model_versions"], Settings(**payload) == settings
    ('s3cret', {'ads': 3}, True)
    """
    payload = settings.model_dump(mode="json")
    if settings.admin_token is not None:
        payload["admin_token"] = settings.admin_token.get_secret_value()
    return payload


class WorkerSlot:
    """One worker's place among its siblings: its index and its private socket.

    Args:
        run_dir: the supervisor's private directory.
        count: how many workers the supervisor runs.
    """

    def __init__(self, run_dir: Path, count: int) -> None:
        self.run_dir = Path(run_dir)
        self.count = count
        self.index, self._lock_fd = self._claim()
        self.socket_path = self.path(self.index)
        self._server: asyncio.AbstractServer | None = None
        self._telling: set[asyncio.Task[dict[int, bytes | None]]] = set()

    def path(self, index: int) -> Path:
        return self.run_dir / f"worker-{index}.sock"

    def _claim(self) -> tuple[int, int]:
        for index in itertools.count():
            fd = os.open(self.run_dir / f"worker-{index}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return index, fd  # held until the process exits
        raise AssertionError("unreachable")

    async def listen(self, answer: Callable[[str], Awaitable[bytes]]) -> None:
        """Answers siblings' one-line requests (``metrics``) with ``answer(request)``."""

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                line = await asyncio.wait_for(reader.readline(), _PEER_TIMEOUT_S)
                writer.write(await answer(line.decode("ascii", "replace").strip()))
                await writer.drain()
            except (OSError, asyncio.TimeoutError):
                pass
            finally:
                writer.close()

        try:
            self.socket_path.unlink()  # left by the worker this one replaces
        except FileNotFoundError:
            pass
        self._server = await asyncio.start_unix_server(handle, path=str(self.socket_path))

    async def close(self) -> None:
        """Stops answering siblings and gives the index up."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    async def ask(self, index: int, request: str) -> bytes | None:
        """A sibling's answer to ``request``; None when it does not answer in time."""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_unix_connection(str(self.path(index))), _PEER_TIMEOUT_S
            )
        except (OSError, asyncio.TimeoutError):
            return None
        try:
            writer.write(request.encode("ascii") + b"\n")
            await writer.drain()
            return await asyncio.wait_for(reader.read(), _PEER_TIMEOUT_S)
        except (OSError, asyncio.TimeoutError):
            return None
        finally:
            writer.close()

    def tell_siblings_to_follow(self, model: str) -> None:
        """Asks every sibling to read the declared state of ``model`` now (this worker has just written it)."""
        task = asyncio.get_running_loop().create_task(self.gather(f"follow {model}"))
        self._telling.add(task)
        task.add_done_callback(self._telling.discard)

    async def gather(self, request: str) -> dict[int, bytes | None]:
        """Every sibling's answer (None for one that did not answer), by worker index."""
        others = [i for i in range(max(self.count, self.index + 1)) if i != self.index]
        answers = await asyncio.gather(*(self.ask(i, request) for i in others))
        return dict(zip(others, answers))


def handed_over() -> tuple[Settings, str, Path, int]:
    """What the supervisor handed this worker (:data:`ENV`): settings, HTTP implementation, run directory, count."""
    config = json.loads(os.environ[ENV])
    return Settings(**config["settings"]), config["http"], Path(config["run_dir"]), int(config["workers"])


class PortUnavailable(RuntimeError):
    """The HTTP or gRPC port cannot be bound: found before any worker starts."""


def die_with_supervisor() -> None:
    """Has the kernel send this worker SIGTERM when its supervisor dies, even killed by SIGKILL (Linux), so that
    no worker outlives it holding the port and a copy of the models; a worker whose supervisor is already gone
    stops at once."""
    import multiprocessing

    parent = multiprocessing.parent_process()
    if parent is None or not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != parent.pid:  # it died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def join_workers() -> tuple[Settings, WorkerSlot]:
    """Sets a worker process up from what the supervisor handed over.

    Returns the supervisor's settings and this worker's slot, once logging and
    TensorFlow's thread pools are set (before TensorFlow runs anything).
    """
    die_with_supervisor()
    settings, _, run_dir, count = handed_over()
    slot = WorkerSlot(run_dir, count)
    prepare_process(settings, LOG_FORMAT.replace("%(name)s", f"%(name)s [worker {slot.index}]"), slot.index)
    listen_on_own_socket(settings.host, settings.port)
    log.info("worker %d (pid %d) of %d starting", slot.index, os.getpid(), slot.count)
    return settings, slot


def check_grpc_port(settings: Settings) -> None:
    """Raises :class:`PortUnavailable` naming the address when the gRPC port is taken.

    The workers then share the port (``SO_REUSEPORT``, :mod:`service.grpc_server`), which would let them
    bind beside another program's socket without an error; this check keeps a port in use an error.

    >>> import socket
    >>> taken = socket.socket()
    >>> taken.bind(("127.0.0.1", 0))
    >>> taken.listen()
    >>> port = taken.getsockname()[1]
    >>> try:
    ...     check_grpc_port(Settings(grpc_port=port))
    ... except RuntimeError as exc:
    ...     print(str(exc).startswith(f"the gRPC server cannot listen on 127.0.0.1:{port} (is the port in use?"))
    ... finally:
    ...     taken.close()
    True
    """
    if not settings.grpc_port:
        return
    try:
        _probe_bind(settings.host, settings.grpc_port)
    except OSError as exc:
        raise PortUnavailable(grpc_port_unusable(settings.host, settings.grpc_port, exc)) from exc


def _probe_bind(host: str, port: int) -> None:
    """Binds ``port`` for a moment without ``SO_REUSEPORT``, which fails beside any socket on it, one of
    another ctrkit's port group included (raises ``OSError``). A connection of an earlier run still in
    TIME_WAIT does not make the port taken."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


def serve_workers(settings: Settings) -> None:
    """Runs ``settings.workers`` worker processes on one port until SIGINT/SIGTERM; every worker drains first.

    The workers run with the options one process would (:func:`service.server.uvicorn_options`); the
    HTTP protocol, a class bound to the settings, is named by import path instead
    (:mod:`service.worker_http` builds it again in each worker), since a class made at run time cannot be
    handed to a spawned process.
    """
    import uvicorn

    from service.server import http_protocol, uvicorn_options

    check_grpc_port(settings)

    from uvicorn.supervisors import Multiprocess

    run_dir = tempfile.mkdtemp(prefix="ctrkit-workers-")
    os.environ[ENV] = json.dumps({"settings": settings_payload(settings), "http": http_protocol(),
                                  "run_dir": run_dir, "workers": settings.workers})
    options = {**uvicorn_options(settings), "http": "service.worker_http:Protocol"}
    # a worker importing TensorFlow or loading a model may not answer the supervisor's ping at once
    config = uvicorn.Config("service.app:worker_app", factory=True, workers=settings.workers,
                            timeout_worker_healthcheck=60, **options)
    try:
        with port_group_socket(settings.host, settings.port) as sock:
            Multiprocess(config, sockets=[sock]).run()
    finally:
        os.environ.pop(ENV, None)
        shutil.rmtree(run_dir, ignore_errors=True)


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _reuseport_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def port_group_socket(host: str, port: int) -> socket.socket:
    """The supervisor's socket: bound to the port (so that a port in use, by another ctrkit's workers too, is
    an error before any worker starts) with ``SO_REUSEPORT``, and never listening; each worker listens on a
    socket of its own in its place (:func:`listen_on_own_socket`)."""
    try:
        if port:  # port 0 takes a free one
            _probe_bind(host, port)
        sock = _reuseport_socket(host, port)
    except OSError as exc:
        raise PortUnavailable(f"cannot listen on {host}:{port} (is the port in use?): {exc}") from exc
    sock.set_inheritable(True)
    return sock


def listen_on_own_socket(host: str, port: int) -> None:
    """Puts a socket of this worker's own (``SO_REUSEPORT``, same address) in place of the supervisor's socket
    that uvicorn handed over, before uvicorn listens on it.

    With one listening socket shared by every worker, the worker that wakes first accepts every connection
    waiting (a client opening 32 keep-alive connections at once may get all of them on one worker, and keep
    them there); with one socket each, the kernel spreads new connections over the workers by their addresses.
    """
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            handed = socket.socket(fileno=fd)
        except OSError:
            continue
        try:
            if (handed.type == socket.SOCK_STREAM and handed.family in (socket.AF_INET, socket.AF_INET6)
                    and (not port or handed.getsockname()[1] == port)  # port 0: the one the supervisor got
                    and not handed.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
                    and handed.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)):
                bound = handed.getsockname()[1]
                own = _reuseport_socket(host, bound)
                os.dup2(own.fileno(), fd)
                own.close()
                log.info("listening on a socket of this worker's own (SO_REUSEPORT) on port %d", bound)
                return
        except OSError:
            continue
        finally:
            handed.detach()  # the descriptor stays uvicorn's
    log.warning("no socket handed over on port %d: sharing the supervisor's", port)
