"""The model registry: which model versions exist, are loaded, and serve.

The repository directory holds ``<model>/<version>/`` export bundles. Every
version found has a :class:`ModelVersion` whose state moves through
``unloaded -> loading -> ready <-> serving -> ready -> unloading -> unloaded``,
or ``loading -> failed``: a version serves only once it is loaded and warmed
up, and a failed load never touches what serves.

Each model has one :class:`Route`: the version that answers requests naming
none, or a weighted split between loaded versions (a canary). A route is
immutable and swapped by a single attribute assignment on the event loop. A
request picks its version and enqueues its rows on that version's batcher in
one step, with no ``await`` in between, so work that started on a version
finishes there even if the route moves meanwhile; a version is unloaded only
after its batcher has drained.

Routes follow each model's declared state (:mod:`service.declared`, the file
``<model>/serving.json`` shared by every process serving the repository): the
admin methods (:meth:`ModelRegistry.activate`, ``rollback``, ``set_traffic``,
``load``, ``unload``) write it, and every poll reads it and the version folders
and brings this process to the :class:`~service.targets.Target` they give
(:meth:`ModelRegistry.reconcile`), so processes converge within one poll
interval plus the time to load what the state needs.
"""

from __future__ import annotations

import asyncio
import bisect
import gc
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from ctrkit.export import PackedLayout
from service.admission import RowEstimate
from service import declared
from service.batching import Batcher, Outputs, Packed
from service.declared import DeclaredState, MalformedState
from service.decoding import Decoder
from service.errors import PayloadError, Unavailable
from service.features import example_row, parse_features, probe_rows
from service.metrics import ServiceMetrics
from service.names import NAME_RE, VERSION_RE
from service.process import lower_priority, lower_tensorflow_threads
from service.runner import ModelRunner, check_signature
from service.schemas import build_schemas
from service.settings import Settings
from service.targets import Target, default_state, resolve

__all__ = [
    "Conflict",
    "LoadFailed",
    "Model",
    "ModelNotFound",
    "ModelRegistry",
    "ModelVersion",
    "NotReady",
    "RegistryError",
    "Route",
    "StateNotWritable",
    "VersionState",
]

log = logging.getLogger(__name__)

BundleLoader = Callable[[Path], Any]


class VersionState(str, Enum):
    UNLOADED = "unloaded"
    LOADING = "loading"
    READY = "ready"
    SERVING = "serving"
    UNLOADING = "unloading"
    FAILED = "failed"


class RegistryError(Exception):
    """A registry request that cannot be met; ``status_code`` is the HTTP answer."""

    status_code = 400

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class ModelNotFound(RegistryError):
    status_code = 404


class NotReady(RegistryError):
    """The model exists but has no version able to answer yet."""

    status_code = 503


class Conflict(RegistryError):
    """The request contradicts the current state (unloading what serves, say)."""

    status_code = 409


class LoadFailed(RegistryError):
    """A version could not be loaded or warmed up; it is marked ``failed``."""

    status_code = 422


class StateNotWritable(RegistryError):
    """The declared state cannot be written here (a read-only repository, say)."""

    status_code = 503


def _error_code(exc: BaseException) -> str:
    """The TensorFlow Serving status code name that describes a load error."""
    if isinstance(exc, FileNotFoundError):
        return "NOT_FOUND"
    if isinstance(exc, (ValueError, KeyError, TypeError)):
        return "INVALID_ARGUMENT"
    return "UNKNOWN"


def _route_key(route: "Route") -> tuple[int | None, tuple[tuple[int, float], ...]]:
    """``(primary version, ((version, percent), ...))``: what a route does, for comparisons."""
    return (route.primary.version if route.primary else None,
            tuple((mv.version, weight) for mv, weight in route.split))


def _fingerprint(path: Path) -> tuple[tuple[str, int, int], ...]:
    """Names, sizes and modification times of a version directory's files."""
    entries = []
    for directory in (path, path / "variables"):
        try:
            children = sorted(directory.iterdir())
        except OSError:
            continue
        for child in children:
            try:
                st = child.stat()
            except OSError:
                continue
            entries.append((str(child.relative_to(path)), st.st_size, st.st_mtime_ns))
    return tuple(entries)


def _declare_route(
    target: Target,
    state: DeclaredState,
    newest: int,
    *,
    primary: int | None = None,
    split: Mapping[int, float] | None = None,
    latest: bool = False,
    history: list[int] | None = None,
    keep: frozenset[int] | set[int] = frozenset(),
    drop: int | None = None,
) -> DeclaredState:
    """The declared state after an admin change of the route in force (``target``).

    Args:
        newest: the newest version that loads here (``latest_seen``: only a newer one replaces a pin).
        primary: the new serving version; None keeps the route as declared.
        split: the canary percents around ``primary``.
        latest: follow the newest version (``primary`` is that version now).
        history: the new history; by default a lone serving version the route leaves joins it.
        keep, drop: versions to add to and remove from those held loaded (everything held now stays).
    """
    if primary is None:
        if target.following_latest or target.primary is None:
            serving, new_split = "latest", None
        elif target.blocked is not None:
            serving, new_split = state.serving, state.split
        else:
            serving, new_split = target.primary, dict(target.split) or None
        new_history = list(target.history)
    else:
        serving, new_split = ("latest" if latest else primary), (dict(split) if split else None)
        new_history = list(target.history) if history is None else list(history)
        if history is None and target.primary is not None and not target.split and (
            new_split or primary != target.primary
        ):
            new_history.append(target.primary)
    members = set(new_split or ()) | ({primary} if primary is not None else set())
    held = (set(target.hold) | members | set(keep)) - {drop}
    return DeclaredState(generation=state.generation, serving=serving, split=new_split, keep_loaded=sorted(held),
                         history=new_history[-declared.MAX_HISTORY:], latest_seen=newest)


class ModelVersion:
    """One version of a model: its bundle, decoder, runner, batcher and state."""

    def __init__(self, model: str, version: int, path: Path) -> None:
        self.model = model
        self.version = version
        self.version_label = str(version)
        self.path = path
        self.state = VersionState.UNLOADED
        self.error: str | None = None
        self.error_code: str | None = None
        self.failed_fingerprint: tuple[Any, ...] | None = None
        self.failed_at: float | None = None
        self.loaded_at: float | None = None
        self.load_seconds: float | None = None
        self.ever_loaded = False
        self.bundle: Any = None
        self.spec: dict[str, Any] | None = None
        self.decoder: Decoder | None = None
        self.batcher: Batcher | None = None
        self.estimate = RowEstimate()
        self.outputs: list[str] = []
        self.single_output = True
        self.signature: str | None = None
        self.load_lock = asyncio.Lock()

    @property
    def loaded(self) -> bool:
        return self.state in (VersionState.READY, VersionState.SERVING)

    async def submit(self, packed: Packed, rows: int, deadline: float) -> Outputs:
        """Scores packed rows through this version's batcher (:class:`Unavailable` once it is unloading)."""
        batcher = self.batcher
        if batcher is None:
            raise Unavailable(self.model)
        return await batcher.submit(packed, rows, deadline)

    @property
    def public_error(self) -> str | None:
        """The load error as the public routes show it: its kind, without paths or details."""
        if not self.error:
            return None
        return f"the version failed to load ({self.error.split(':', 1)[0]}); the admin API has the details"

    def describe(self, admin: bool = False) -> dict[str, Any]:
        """State, outputs and queue of this version; ``admin`` adds its path, the load error's text and details
        (the public routes show no file of the server)."""
        info: dict[str, Any] = {"version": self.version, "state": self.state.value}
        if admin:
            info["path"] = str(self.path)
        if self.error:
            info["error"] = self.error if admin else self.public_error
            if admin:
                info["error_code"] = self.error_code
                info["failed_at"] = self.failed_at
                info["load_seconds"] = self.load_seconds  # the failed attempt's
        if self.loaded:
            info["outputs"] = self.outputs
            info["signature"] = self.signature
            info["loaded_at"] = self.loaded_at
            info["load_seconds"] = self.load_seconds
        if self.batcher is not None:
            info["queued_rows"] = self.batcher.queued_rows
            if admin:
                info["running_calls"] = self.batcher.in_flight
        return info


class Route:
    """Where requests naming no version go: one version, or a weighted split.

    Args:
        primary: the version reported as serving (the heaviest one of a split).
        split: ``(version, percent)`` pairs, percents summing to 100; empty when
            ``primary`` takes every request.
    """

    __slots__ = ("primary", "split", "_bounds")

    def __init__(self, primary: ModelVersion | None = None,
                 split: tuple[tuple[ModelVersion, float], ...] = ()) -> None:
        self.primary = primary
        self.split = split
        bounds, total = [], 0.0
        for _, weight in split:
            total += weight
            bounds.append(total)
        self._bounds = [b / total for b in bounds] if split else []

    def pick(self) -> ModelVersion | None:
        if not self.split:
            return self.primary
        i = bisect.bisect_right(self._bounds, random.random())
        return self.split[min(i, len(self.split) - 1)][0]

    def members(self) -> list[ModelVersion]:
        """The versions taking requests that name no version."""
        if self.split:
            return [mv for mv, _ in self.split]
        return [self.primary] if self.primary is not None else []

    def percents(self) -> dict[int, float]:
        if self.split:
            return {mv.version: weight for mv, weight in self.split}
        return {self.primary.version: 100.0} if self.primary is not None else {}


class Model:
    """A model name with its versions, its route, and the state declared for it.

    ``declared`` is the last good state read from ``serving.json`` (None: no
    file, so ``default`` applies); ``declared_error`` says why the file on disk
    is not used, while it is malformed; ``applied_generation`` is the generation
    this process has brought its route to.
    """

    def __init__(self, name: str, directory: Path, default: DeclaredState) -> None:
        self.name = name
        self.directory = directory
        self.versions: dict[int, ModelVersion] = {}
        self.route = Route()
        self.history: list[int] = []  # versions that served alone before, oldest first
        self.default = default
        self.declared: DeclaredState | None = None
        self.declared_stamp: declared.Stamp | None = None
        self.declared_error: str | None = None
        self.target: Target | None = None
        self.applied_generation: int | None = None
        self.applied_at: float | None = None  # when this process reached applied_generation (time.time())
        self.lock = asyncio.Lock()
        self.reconcile_lock = asyncio.Lock()

    @property
    def state(self) -> DeclaredState:
        """The declared state in force: the file's last good content, else the default."""
        return self.declared if self.declared is not None else self.default

    @property
    def serving(self) -> ModelVersion | None:
        return self.route.primary

    def pick(self) -> ModelVersion | None:
        """The version that answers a request naming no version (weighted when split)."""
        return self.route.pick()

    def rollback_target(self) -> ModelVersion | None:
        """The version a rollback goes to: the newest history entry that differs from now."""
        for v in reversed(self.history):
            mv = self.versions.get(v)
            if mv is None or (mv is self.route.primary and not self.route.split):
                continue
            return mv
        return None

    def converged(self) -> bool:
        """This process serves what the declared state in force asks for."""
        return (self.target is not None and self.target.blocked is None
                and self.applied_generation == self.state.generation)

    def describe(self, admin: bool = False) -> dict[str, Any]:
        route = self.route
        info: dict[str, Any] = {
            "name": self.name,
            "serving": route.primary.version if route.primary else None,
            "traffic": {str(v): w for v, w in route.percents().items()} if route.split else None,
            "versions": [self.versions[v].describe(admin) for v in sorted(self.versions)],
        }
        if admin:
            target = self.rollback_target()
            info["rollback_to"] = target.version if target else None
            info["declared"] = self.declared.model_dump(mode="json") if self.declared is not None else None
            info["declared_error"] = self.declared_error
            info["applied_generation"] = self.applied_generation
            info["applied_at"] = self.applied_at
            info["following_latest"] = self.target.following_latest if self.target else None
            info["blocked"] = self.target.blocked if self.target else None
            info["converged"] = self.converged()
        return info


def _no_version(name: str, version: int, model: Model) -> ModelNotFound:
    """The 404 for a version ``model`` does not have, listing those it has."""
    known = sorted(model.versions)
    return ModelNotFound(f"model {name!r} has no version {version}; known versions: "
                         f"{', '.join(map(str, known)) or 'none'}", known=known)


class ModelRegistry:
    """Finds, loads, warms up and serves the versions of every model in a repository.

    Args:
        settings: the service settings.
        metrics: where batch and load measurements go.
        loader: ``path -> bundle``; defaults to :func:`ctrkit.export.load_bundle`.
    """

    def __init__(self, settings: Settings, metrics: ServiceMetrics, loader: BundleLoader | None = None) -> None:
        self.settings = settings
        self.metrics = metrics
        self.root = Path(settings.model_repository)
        self._loader = loader
        self.models: dict[str, Model] = {}
        self.generation = 0
        # loading and warming up a version, like its calls, yields the core to the event loop
        self._load_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-load",
                                                 initializer=self._lower_this_thread)
        self._decoders: dict[tuple[Any, ...], Decoder] = {}
        self._warned: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._follows: dict[str, asyncio.Task[None]] = {}
        self._follow_again: set[str] = set()
        # called with a model's name once this process has written its declared state (workers tell their siblings)
        self.on_declared: Callable[[str], None] | None = None
        self.initial_load_done = False
        self._initial_done = asyncio.Event()

    def _lower_this_thread(self) -> None:
        lower_priority(self.settings.model_niceness)

    # -- discovery ---------------------------------------------------------------
    def scan(self) -> dict[str, list[int]]:
        """Models and their version numbers found in the repository (no loading).

        Folders that cannot be served are reported once each in the log: a
        bundle lying directly in the repository (versions go in
        ``<repository>/<model>/<version>/``), a folder whose name is not a
        valid model name, a missing repository.
        """
        found: dict[str, list[int]] = {}
        if not self.root.is_dir():
            self._warn_once(f"the model repository {self.root} does not exist or is not a folder")
            return found
        for model_dir in sorted(self.root.iterdir()):
            if not model_dir.is_dir() or model_dir.name.startswith("."):
                continue
            if (model_dir / "saved_model.pb").is_file() or (model_dir / "feature_spec.json").is_file():
                self._warn_once(
                    f"{model_dir} holds a model bundle directly in the repository, which is not served: versions "
                    f"go in <repository>/<model>/<version>/ (for example {self.root / 'my_model' / '1'})"
                )
                continue
            if not NAME_RE.fullmatch(model_dir.name) or ".." in model_dir.name:
                self._warn_once(f"{model_dir} is not served: {model_dir.name!r} is not a valid model name "
                                "(letters, digits, '_', '-', '.')")
                continue
            try:
                versions = sorted(
                    int(p.name) for p in model_dir.iterdir()
                    if p.is_dir() and VERSION_RE.fullmatch(p.name) and int(p.name) > 0
                )
            except OSError:
                continue
            if versions:
                found[model_dir.name] = versions
        return found

    def _warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            log.warning("%s", message)

    def _sync_discovered(self, found: dict[str, list[int]]) -> None:
        """Adds new versions; forgets versions whose directory is gone and that hold nothing."""
        for name, versions in found.items():
            model = self.models.get(name)
            if model is None:
                default = default_state(self.settings.version_policy, self.settings.model_versions.get(name), versions)
                model = self.models[name] = Model(name, self.root / name, default)
            for v in versions:
                if v not in model.versions:
                    model.versions[v] = ModelVersion(name, v, self.root / name / str(v))
        for name, model in list(self.models.items()):
            present = set(found.get(name, ()))
            for v, mv in list(model.versions.items()):
                if v not in present and mv.state in (VersionState.UNLOADED, VersionState.FAILED):
                    del model.versions[v]
            if not model.versions:
                del self.models[name]
        self.generation += 1

    # -- background work -------------------------------------------------------------
    def start(self) -> None:
        """Starts the first load (and the repository poller) in the background."""
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._initial_load(), name="initial-load"))
        if self.settings.poll_interval_s > 0:
            self._tasks.append(loop.create_task(self._poll_forever(), name="repository-poll"))

    async def wait_initial_load(self) -> None:
        """Returns once the first load has brought every model to its target (or failed trying)."""
        await self._initial_done.wait()

    async def _initial_load(self) -> None:
        try:
            found = self.scan()
            self._sync_discovered(found)
            for name in self.settings.model_versions.keys() - found.keys():
                log.error("model %s is pinned but not in the repository %s", name, self.root)
            await self._follow_all()
        finally:
            self.initial_load_done = True
            self._initial_done.set()

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.poll_interval_s)
            try:
                await self.poll_once()
            except Exception:
                log.exception("repository poll failed")

    async def poll_once(self) -> None:
        """Reads the repository's version folders and declared states, and follows them.

        Under the ``latest`` policy a version newer than every version the
        declared state has seen is loaded and serves, so admin actions (a
        rollback, say) stand until the next version appears. A version that
        failed to load is tried again once its files change (a bundle copied in
        place file by file, for instance).
        """
        if not self.initial_load_done:
            return
        self._sync_discovered(self.scan())
        await self._follow_all()

    async def _follow_all(self) -> None:
        """Reads every model's declared state and brings the model to its target (one model's trouble is logged)."""
        for name in list(self.models):
            await self._follow(name)

    async def _follow(self, name: str) -> None:
        model = self.models.get(name)
        if model is None:
            return
        try:
            self.read_declared(model)
            await self.reconcile(model)
        except Exception:
            log.exception("model %s: following the repository failed", name)

    def follow_soon(self, name: str) -> None:
        """Reads the declared state of model ``name`` now rather than at the next poll, and follows it (another
        process wrote it)."""
        if not self.initial_load_done:
            return
        if name in self._follows:  # read again once the running follow is done: it may have read before the write
            self._follow_again.add(name)
            return
        self._sync_discovered(self.scan())
        if name not in self.models:
            return
        task = asyncio.get_running_loop().create_task(self._follow_promptly(name), name=f"follow-{name}")
        self._follows[name] = task
        task.add_done_callback(lambda _: self._follows.pop(name, None))

    async def _follow_promptly(self, name: str) -> None:
        while True:
            self._follow_again.discard(name)
            await self._follow(name)
            if name not in self._follow_again:
                return

    # -- declared state ----------------------------------------------------------------
    def read_declared(self, model: Model) -> None:
        """Reads ``serving.json`` when it changed; a malformed file is reported and the last good state kept."""
        try:
            current = declared.stamp(model.directory)
        except OSError as exc:
            self._malformed(model, f"{model.directory / declared.FILE_NAME}: cannot be read: {exc}")
            return
        if current == model.declared_stamp and model.declared_error is None:
            return
        model.declared_stamp = current
        try:
            state = declared.read(model.directory)
        except MalformedState as exc:
            self._malformed(model, exc.message)
            return
        if model.declared_error is not None:
            log.info("model %s: the declared state is valid again", model.name)
        model.declared_error = None
        if state != model.declared:
            if state is None:
                log.info("model %s: no declared state (%s removed): the version policy applies",
                         model.name, declared.FILE_NAME)
            else:
                log.info("model %s: declared state generation %d: serving %s%s", model.name, state.generation,
                         state.serving, f", split {state.split}" if state.split else "")
        model.declared = state

    def _malformed(self, model: Model, message: str) -> None:
        if message != model.declared_error:
            kept = model.declared.generation if model.declared is not None else "none (the version policy applies)"
            log.error("model %s: ignoring a malformed declared state: %s; keeping generation %s",
                      model.name, message, kept)
        model.declared_error = message

    def _failed(self, model: Model, also: set[int] = frozenset()) -> set[int]:
        """Versions that failed to load and whose files have not changed since (or that failed just now)."""
        return {
            v for v, mv in model.versions.items()
            if mv.state is VersionState.FAILED and (v in also or mv.failed_fingerprint == _fingerprint(mv.path))
        }

    def _targets(self, model: Model, also_failed: set[int] = frozenset()) -> Callable[[DeclaredState], Target]:
        """``state -> Target`` for this model as this process sees it now (safe to call from another thread)."""
        versions, failed = sorted(model.versions), self._failed(model, also_failed)
        current = _route_key(model.route)
        policy, retain = self.settings.version_policy, self.settings.retain_versions
        return lambda state: resolve(state, versions, failed, policy, current, retain)

    def _target(self, model: Model, also_failed: set[int] = frozenset()) -> Target:
        return self._targets(model, also_failed)(model.state)

    async def reconcile(self, model: Model) -> Target:
        """Brings this process to the model's target: loads what it needs, swaps the route, unloads the rest.

        The route moves only once every version it names is loaded and warmed
        up; a version that fails to load changes the target (the newest version
        that loads serves instead, or the route stays as it is).
        """
        async with model.reconcile_lock:
            return await self._reconcile(model)

    async def _reconcile(self, model: Model) -> Target:
        """:meth:`reconcile`'s work; the caller holds ``model.reconcile_lock``."""
        tried: set[int] = set()
        while True:
            target = self._target(model, tried)
            pending = [model.versions[v] for v in target.members if not model.versions[v].loaded]
            if not pending:
                break
            for mv in pending:
                try:
                    await self._ensure_loaded(mv)
                except LoadFailed:
                    tried.add(mv.version)
                    break
        async with model.lock:
            members = {v: model.versions[v] for v in target.members}
            route = Route(members.get(target.primary), tuple((members[v], w) for v, w in target.split))
            if _route_key(route) != _route_key(model.route):
                self._set_route(model, route)
            model.history = list(target.history)
        for v in sorted(target.keep - set(target.members)):
            mv = model.versions.get(v)
            if mv is None or mv.loaded or v in self._failed(model, tried):
                continue
            try:
                await self._ensure_loaded(mv)
            except LoadFailed:
                tried.add(v)
        for mv in list(model.versions.values()):
            if mv.loaded and mv.version not in target.hold:
                try:
                    await self._unload(model, mv)
                except Conflict:
                    pass  # it takes requests again
        if target.blocked is not None and (model.target is None or model.target.blocked != target.blocked):
            log.error("model %s: cannot serve the declared state (generation %d): %s",
                      model.name, target.generation, target.blocked)
        model.target = target
        if target.blocked is None and model.applied_generation != target.generation:
            model.applied_generation, model.applied_at = target.generation, time.time()
        return target

    async def _declare(
        self,
        model: Model,
        change: Callable[[Target, DeclaredState, int], DeclaredState],
        preload: tuple[ModelVersion, ...] = (),
    ) -> None:
        """Loads ``preload`` here, writes the model's declared state as ``change`` makes it, then applies it here.

        ``change(target, state, newest)`` gets the state in the file (read under
        the file's lock), the target it gives in this process and the newest
        version that loads here, and returns the new state; a
        :class:`RegistryError` it raises leaves the file as it was, and so does a
        version of ``preload`` that fails to load (:class:`LoadFailed`). The
        model's reconcile lock is held throughout, so the poller cannot unload a
        version loaded for the change before the change is declared.
        """
        async with model.reconcile_lock:
            for mv in preload:
                await self._ensure_loaded(mv)
            self._sync_discovered(self.scan())
            targets, default, newest = self._targets(model), model.default, self._newest_usable(model)

            def make(current: DeclaredState | None) -> DeclaredState:
                state = current if current is not None else default
                return change(targets(state), state, newest)

            try:
                written = await asyncio.to_thread(declared.update, model.directory, make, model.declared)
            except OSError as exc:
                raise StateNotWritable(
                    f"cannot write the declared state of model {model.name!r} "
                    f"({model.directory / declared.FILE_NAME}): {exc.strerror or exc}; "
                    "send admin calls to a process that can write the model repository"
                ) from exc
            log.info("model %s: declared generation %d: serving %s%s", model.name, written.generation,
                     written.serving, f", split {written.split}" if written.split else "")
            model.declared, model.declared_error = written, None
            model.declared_stamp = None  # the next poll reads the file again, in case another process wrote since
            if self.on_declared is not None:
                self.on_declared(model.name)
            await self._reconcile(model)

    def _newest_usable(self, model: Model) -> int:
        failed = self._failed(model)
        return max((v for v in model.versions if v not in failed), default=0)

    async def close(self) -> None:
        """Stops background work and drains every batcher."""
        tasks = [*self._tasks, *self._follows.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        for model in self.models.values():
            for mv in model.versions.values():
                if mv.batcher is not None:
                    await mv.batcher.close()
        self._load_executor.shutdown(wait=False, cancel_futures=True)

    # -- lookups of names ------------------------------------------------------------
    def _model(self, name: str) -> Model:
        model = self.models.get(name)
        if model is None:
            self._sync_discovered(self.scan())
            model = self.models.get(name)
        if model is None:
            raise ModelNotFound(
                f"unknown model {name!r}; known models: {', '.join(sorted(self.models)) or 'none'}",
                known=sorted(self.models),
            )
        return model

    def _get(self, name: str, version: int) -> tuple[Model, ModelVersion]:
        model = self._model(name)
        if version not in model.versions:
            self._sync_discovered(self.scan())
            model = self._model(name)
        mv = model.versions.get(version)
        if mv is None:
            raise _no_version(name, version, model)
        return model, mv

    # -- loading -------------------------------------------------------------------
    def _decoder(self, model: str, version: int, spec: dict[str, Any], outputs: list[str]) -> Decoder:
        """The decoder of a version; versions of a model with the same features share one."""
        features = parse_features(spec)
        key = (model, repr(features), tuple(outputs))
        decoder = self._decoders.get(key)
        if decoder is None:
            names = {f.name for f in features}
            layout = PackedLayout.from_spec(spec) or PackedLayout.from_entries(
                [e for e in spec["features"] if e["name"] in names]
            )
            schemas = build_schemas(model, version, features, outputs, self.settings.max_rows_per_request)
            decoder = self._decoders[key] = Decoder(features, layout, schemas)
        return decoder

    def _load_sync(self, mv: ModelVersion) -> tuple[Any, Decoder, ModelRunner, list[str], list[tuple[int, float]]]:
        """Loads a bundle and warms it up: its outputs are checked, and a large call is timed."""
        loader = self._loader
        if loader is None:
            from ctrkit.export import load_bundle

            loader = load_bundle
        bundle = loader(mv.path)
        spec = bundle.spec
        outputs = list(getattr(bundle, "output_names", None) or spec["model"]["outputs"])
        decoder = self._decoder(mv.model, mv.version, spec, outputs)
        check_signature(bundle, decoder.features)
        runner = ModelRunner(bundle, decoder.layout, outputs)
        example = example_row(decoder.features)
        max_rows = self.settings.max_rows_per_request
        for rows in sorted({1, min(self.settings.warmup_rows, max_rows)}):
            result = runner.call_default(decoder.decode_rows([example] * rows).packed)
            for name in outputs:
                arr = result[name]
                if arr.shape != (rows,):
                    raise ValueError(f"warm-up: output {name!r} has shape {arr.shape} for {rows} rows")
                if not np.all(np.isfinite(arr)):
                    raise ValueError(f"warm-up: output {name!r} is not finite")
        probe = decoder.decode_rows(probe_rows(decoder.features, min(32, max_rows))).packed
        runner.use_packed_if_equal(probe, runner.call_default(probe))
        timings = []
        for rows in (1, min(self.settings.max_batch_rows, max_rows, 1024)):
            packed = decoder.decode_rows([example] * rows).packed
            runner(packed)
            start = time.perf_counter()
            runner(packed)
            timings.append((rows, time.perf_counter() - start))
        return bundle, decoder, runner, outputs, timings

    async def _ensure_loaded(self, mv: ModelVersion) -> ModelVersion:
        """Loads and warms up a version unless it is loaded; :class:`LoadFailed` on failure."""
        async with mv.load_lock:
            if mv.loaded:
                return mv
            mv.state, mv.error, mv.error_code = VersionState.LOADING, None, None
            self.generation += 1
            start = time.perf_counter()
            loop = asyncio.get_running_loop()
            try:
                if not mv.path.is_dir():
                    raise FileNotFoundError(f"{mv.path} does not exist")
                bundle, decoder, runner, outputs, timings = await loop.run_in_executor(
                    self._load_executor, self._load_sync, mv
                )
            except Exception as exc:  # a broken bundle must not stop the service
                mv.state, mv.error, mv.error_code = VersionState.FAILED, f"{type(exc).__name__}: {exc}", _error_code(exc)
                mv.failed_fingerprint, mv.failed_at = _fingerprint(mv.path), time.time()
                mv.load_seconds = time.perf_counter() - start
                self.generation += 1
                self.metrics.model_loads.labels(mv.model, "failed").inc()
                log.error("model %s version %s failed to load: %s", mv.model, mv.version, mv.error)
                raise LoadFailed(
                    f"model {mv.model!r} version {mv.version} failed to load: {mv.error}",
                    state=mv.state.value, error=mv.error,
                ) from exc
            s = self.settings
            batcher = Batcher(
                runner,
                name=f"{mv.model}-{mv.version}",
                max_batch_rows=s.max_batch_rows,
                batch_timeout_s=s.batch_timeout_ms / 1000.0,
                max_queue_rows=s.max_queue_rows,
                workers=s.model_workers,
                observer=self.metrics.observer(mv.model, mv.version_label, outputs),
                thread_start=self._lower_this_thread,
            )
            batcher.start()
            lower_tensorflow_threads(s.model_niceness)  # its pools exist once a model has run
            for rows, seconds in timings:
                batcher.cost.record(rows, seconds)
            mv.bundle, mv.spec, mv.decoder, mv.batcher = bundle, bundle.spec, decoder, batcher
            mv.outputs = outputs
            mv.single_output = len(outputs) == 1
            mv.signature = runner.signature_name
            mv.load_seconds = time.perf_counter() - start
            mv.loaded_at = time.time()
            mv.ever_loaded = True
            mv.failed_fingerprint = None
            mv.state = VersionState.READY  # only now can a route or a request reach it
            self.generation += 1
            self.metrics.model_loads.labels(mv.model, "ok").inc()
            self.metrics.model_load_duration.labels(mv.model).observe(mv.load_seconds)
            log.info("model %s version %s loaded and warmed up in %.2fs", mv.model, mv.version, mv.load_seconds)
            # what a load leaves behind lives as long as the version: no garbage collection needs to
            # walk it again (full collections over TensorFlow's objects were the service's latency tail)
            gc.freeze()
            return mv

    # -- routing -------------------------------------------------------------------
    def _set_route(self, model: Model, route: Route) -> None:
        old = model.route
        model.route = route  # the atomic swap
        members = route.members()
        for mv in old.members():
            if mv not in members and mv.state is VersionState.SERVING:
                mv.state = VersionState.READY
        for mv in members:
            mv.state = VersionState.SERVING
        self.generation += 1
        if route.split:
            log.info("model %s traffic split: %s", model.name,
                     ", ".join(f"version {v} {w:g}%" for v, w in route.percents().items()))
        elif route.primary is not old.primary or old.split:
            log.info("model %s now serves version %s", model.name, route.primary.version if route.primary else None)

    # -- admin changes: each writes the declared state, then applies it here ------------
    async def load(self, name: str, version: int) -> ModelVersion:
        """Loads and warms up a version (not yet serving) and declares it kept loaded everywhere."""
        model, mv = self._get(name, version)
        await self._declare(model, lambda target, state, newest: _declare_route(target, state, newest, keep={version}),
                            preload=(mv,))  # a version that fails here is never declared
        return mv

    async def activate(self, name: str, version: int) -> ModelVersion:
        """Makes a version the only serving one (loading it first), in every process."""
        model, mv = self._get(name, version)
        await self._declare(model, lambda target, state, newest: _declare_route(target, state, newest,
                                                                                primary=version), preload=(mv,))
        return mv

    async def follow_latest(self, name: str) -> Model:
        """Serves the newest version that loads from now on (the ``latest`` policy, declared)."""
        model = self._model(name)
        newest = self._newest_usable(model)
        if not newest:
            raise NotReady(f"model {name!r} has no version that loads")

        def follow(target: Target, state: DeclaredState, newest: int) -> DeclaredState:
            return _declare_route(target, state, newest, primary=newest, latest=True)

        await self._declare(model, follow, preload=(model.versions[newest],))
        return model

    async def rollback(self, name: str) -> ModelVersion:
        """Serves the version that served alone before the current route, again, in every process.

        A canary split is dropped; repeated rollbacks go further back in history.
        """
        model = self._model(name)
        ahead = self._target(model).rollback_target()

        def back(target: Target, state: DeclaredState, newest: int) -> DeclaredState:
            version = target.rollback_target()
            if version is None:
                raise Conflict(f"model {name!r} has no previous version to roll back to")
            history = list(target.history)
            del history[len(history) - 1 - history[::-1].index(version):]
            return _declare_route(target, state, newest, primary=version, history=history)

        # the target is loaded here first: one that fails is refused before it is declared
        await self._declare(model, back, preload=(model.versions[ahead],) if ahead in model.versions else ())
        if model.route.primary is None:
            raise NotReady(f"model {name!r} has no version serving")
        return model.route.primary

    async def set_traffic(self, name: str, split: Mapping[int, float] | None) -> Model:
        """Splits requests naming no version between loaded versions by percent, in every process.

        ``None`` or an empty mapping gives every request to the serving version
        again; a single positive weight is an activation of that version.
        """
        model = self._model(name)
        if not split:
            if model.route.split:
                await self._declare(model, lambda target, state, newest: _declare_route(
                    target, state, newest, primary=target.primary if target.split else None))
            return model
        chosen: dict[int, float] = {}
        for v, weight in sorted(split.items()):
            mv = model.versions.get(v)
            if mv is None:
                raise _no_version(name, v, model)
            if weight > 0:
                if not mv.loaded:
                    raise Conflict(
                        f"model {name!r} version {v} is {mv.state.value}, not loaded: "
                        f"load it first (POST /admin/models/{name}/versions/{v}:load)"
                    )
                chosen[v] = float(weight)
        if not chosen:
            raise RegistryError("a traffic split needs at least one positive weight")

        def divide(target: Target, state: DeclaredState, newest: int) -> DeclaredState:
            primary = max(chosen, key=lambda v: (chosen[v], v == target.primary, v))
            return _declare_route(target, state, newest, primary=primary,
                                  split=chosen if len(chosen) > 1 else None)

        await self._declare(model, divide, preload=tuple(model.versions[v] for v in chosen))
        return model

    # -- unloading -----------------------------------------------------------------
    async def unload(self, name: str, version: int) -> ModelVersion:
        """Unloads a version in every process, after its queued and running batches finish.

        Refused (:class:`Conflict`) for a version that takes requests naming no
        version: the serving one or one in the traffic split.
        """
        model, mv = self._get(name, version)
        serving_here = mv in model.route.members()

        def drop(target: Target, state: DeclaredState, newest: int) -> DeclaredState:
            if version in target.members or serving_here:
                what = "in the traffic split" if target.split else "serving"
                raise Conflict(
                    f"model {name!r} version {version} is {what}; activate another version or change the split first"
                )
            return _declare_route(target, state, newest, drop=version)

        await self._declare(model, drop)
        if mv.state is VersionState.FAILED:
            await self._unload(model, mv)  # forget the failure too
        return mv

    async def _unload(self, model: Model, mv: ModelVersion) -> ModelVersion:
        async with mv.load_lock:
            async with model.lock:
                if mv in model.route.members():
                    what = "in the traffic split" if model.route.split else "serving"
                    raise Conflict(
                        f"model {model.name!r} version {mv.version} is {what}; "
                        "activate another version or change the split first"
                    )
                batcher = mv.batcher
                mv.state = VersionState.UNLOADING if batcher is not None else VersionState.UNLOADED
                mv.error = mv.error_code = None
                self.generation += 1
            if batcher is None:
                return mv
            await batcher.close()  # queued and running work finishes on this version
            mv.bundle = mv.spec = mv.decoder = mv.batcher = None
            mv.state = VersionState.UNLOADED
            self.generation += 1
            self.metrics.forget(model.name, mv.version_label)
            log.info("model %s version %s unloaded", model.name, mv.version)
            return mv

    # -- lookups -------------------------------------------------------------------
    def resolve(self, name: str | None, version: int | None) -> ModelVersion:
        """The loaded version a request goes to.

        Raises :class:`ModelNotFound` (404) for an unknown model or version,
        :class:`NotReady` (503) when the model has no version loaded yet, and
        :class:`PayloadError` (422) when several models exist and none is named.
        """
        if name is None:
            name = self.settings.default_model
            if name is None:
                if len(self.models) != 1:
                    raise PayloadError.single(
                        f"name a model with 'model'; known models: {', '.join(sorted(self.models)) or 'none'}",
                        "missing", ("body", "model"),
                    )
                name = next(iter(self.models))
        model = self.models.get(name)
        if model is None:
            raise ModelNotFound(
                f"unknown model {name!r}; known models: {', '.join(sorted(self.models)) or 'none'}",
                known=sorted(self.models),
            )
        if version is None:
            mv = model.pick()
            if mv is None:
                raise NotReady(f"model {name!r} has no version serving yet")
            return mv
        mv = model.versions.get(version)
        if mv is None or not mv.loaded:
            loaded = sorted(v for v, m in model.versions.items() if m.loaded)
            raise ModelNotFound(
                f"model {name!r} has no loaded version {version}; loaded versions: "
                f"{', '.join(map(str, loaded)) or 'none'}",
                known=loaded,
            )
        return mv

    def guess(self, name: str | None, version: int | None) -> ModelVersion | None:
        """The version a request will most likely reach, or None (for estimates before its body is read)."""
        try:
            return self.resolve(name, version)
        except (RegistryError, PayloadError):
            return None

    def loaded_versions(self) -> Iterator[ModelVersion]:
        for model in list(self.models.values()):
            for mv in list(model.versions.values()):
                if mv.loaded:
                    yield mv

    def ready(self) -> bool:
        """At least one version is loaded and warmed up."""
        return any(True for _ in self.loaded_versions())

    def version_states(self) -> Iterator[tuple[str, str, str]]:
        for model in list(self.models.values()):
            for mv in list(model.versions.values()):
                yield model.name, mv.version_label, mv.state.value

    def queue_depths(self) -> Iterator[tuple[str, str, int]]:
        for model in list(self.models.values()):
            for mv in list(model.versions.values()):
                if mv.batcher is not None:
                    yield model.name, mv.version_label, mv.batcher.queued_rows

    def declared_states(self) -> Iterator[tuple[str, int, int | None, bool]]:
        """``(model, declared generation, applied generation, file malformed)`` per model."""
        for model in list(self.models.values()):
            yield model.name, model.state.generation, model.applied_generation, model.declared_error is not None

    def traffic(self) -> Iterator[tuple[str, str, float]]:
        """``(model, version, percent)`` of requests naming no version, per loaded version."""
        for model in list(self.models.values()):
            percents = model.route.percents()
            for mv in list(model.versions.values()):
                if mv.loaded:
                    yield model.name, mv.version_label, percents.get(mv.version, 0.0)

    def describe(self, admin: bool = False) -> dict[str, Any]:
        answer: dict[str, Any] = {"models": [self.models[n].describe(admin) for n in sorted(self.models)]}
        if admin:
            answer = {
                "version_policy": self.settings.version_policy.value,
                "poll_interval_s": self.settings.poll_interval_s,
                "retain_versions": self.settings.retain_versions,
                **answer,
            }
        return answer
