"""The model registry: which model versions exist, are loaded, and serve.

The repository directory holds ``<model>/<version>/`` export bundles. Every
version found has a :class:`ModelVersion` whose state moves through
``unloaded -> loading -> ready <-> serving`` (or ``failed``). Each model has one
*serving* pointer, swapped atomically (a single attribute assignment on the
event loop): a request resolves its version once, up front, and keeps that
object, so a batch that started on a version finishes on it even if the pointer
moves meanwhile; a version is only unloaded after its batcher has drained.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from service.batching import Batcher, Columns, Outputs
from service.codec import FeatureCodec, PayloadError
from service.metrics import ServiceMetrics
from service.schemas import VersionSchemas, build_schemas
from service.settings import Settings, VersionPolicy

__all__ = [
    "ModelNotFound",
    "ModelRegistry",
    "ModelVersion",
    "NotReady",
    "RegistryError",
    "SignatureRunner",
    "VersionState",
    "validate_model_name",
    "validate_version",
]

log = logging.getLogger(__name__)

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
_VERSION_RE = re.compile(r"^[0-9]{1,18}$")

BundleLoader = Callable[[Path], Any]


class VersionState(str, Enum):
    UNLOADED = "unloaded"
    LOADING = "loading"
    READY = "ready"
    SERVING = "serving"
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


def validate_model_name(name: Any) -> str:
    """The model name if it is a safe directory name (no path separators, no ``..``)."""
    if not isinstance(name, str) or not _NAME_RE.match(name) or ".." in name:
        raise PayloadError.single(
            f"invalid model name {name!r}: use letters, digits, '_', '-', '.' (at most 128)",
            "value_error", ("body", "model"),
        )
    return name


def validate_version(version: Any) -> int:
    """The version as an int; accepts a positive int or a string of digits."""
    if isinstance(version, bool) or not isinstance(version, (int, str)):
        raise PayloadError.single(f"invalid version {version!r}: expected a positive integer", "type_error", ("body", "version"))
    if isinstance(version, str):
        if not _VERSION_RE.match(version):
            raise PayloadError.single(f"invalid version {version!r}: expected a positive integer", "value_error", ("body", "version"))
        version = int(version)
    if not 0 < version < 2**63:
        raise PayloadError.single(f"invalid version {version}: expected a positive integer", "value_error", ("body", "version"))
    return version


_PACKED_DTYPES = {"strings": object, "ints": np.int64, "floats": np.float32}


class SignatureRunner:
    """Calls a bundle's SavedModel signature with numpy columns.

    ``serving_default`` takes one tensor per feature. When the bundle also has
    ``serving_packed`` (one 2-D tensor per dtype, described by the spec's
    ``packed`` entry), :meth:`use_packed_if_equal` switches to it after
    checking that it gives the same scores: it saves most of the fixed cost of
    a call with dozens of inputs.
    """

    def __init__(self, bundle: Any, output_names: list[str]) -> None:
        self._default = bundle.signature
        self._packed_fn = getattr(bundle, "packed_signature", None)
        self._packing = (bundle.spec or {}).get("packed") or {}
        self._outputs = list(output_names)
        self.packed = False

    @staticmethod
    def _tensor(arr: np.ndarray) -> Any:
        # tf.constant converts faster than the signature's own argument handling
        tf = sys.modules.get("tensorflow")
        return tf.constant(arr) if tf is not None else arr

    def _outputs_of(self, result: Any) -> Outputs:
        outputs = {}
        for name in self._outputs:
            arr = np.asarray(result[name])
            outputs[name] = arr.reshape(-1) if arr.ndim == 2 and arr.shape[1] == 1 else arr
        return outputs

    def call_default(self, columns: Columns) -> Outputs:
        return self._outputs_of(self._default(**{k: self._tensor(v) for k, v in columns.items()}))

    def call_packed(self, columns: Columns) -> Outputs:
        packed = {}
        for group, layout in self._packing.items():
            parts = [columns[name].reshape(len(columns[name]), -1) for name, _ in layout]
            packed[group] = self._tensor(np.concatenate(parts, axis=1).astype(_PACKED_DTYPES[group], copy=False))
        return self._outputs_of(self._packed_fn(**packed))

    def use_packed_if_equal(self, columns: Columns, expected: Outputs) -> bool:
        """Switches to ``serving_packed`` if it exists and reproduces ``expected``."""
        if self._packed_fn is None or not self._packing or set(self._packing) - set(_PACKED_DTYPES):
            return False
        try:
            got = self.call_packed(columns)
        except Exception as exc:  # an unusable packed signature only costs speed
            log.warning("serving_packed unusable, using serving_default: %s", exc)
            return False
        self.packed = all(np.allclose(got[n], expected[n], atol=1e-5) for n in self._outputs)
        return self.packed

    def __call__(self, columns: Columns) -> Outputs:
        return self.call_packed(columns) if self.packed else self.call_default(columns)


class ModelVersion:
    """One version of a model: its bundle, codec, schemas, batcher and state."""

    def __init__(self, model: str, version: int, path: Path) -> None:
        self.model = model
        self.version = version
        self.version_label = str(version)
        self.path = path
        self.state = VersionState.UNLOADED
        self.error: str | None = None
        self.loaded_at: float | None = None
        self.load_seconds: float | None = None
        self.bundle: Any = None
        self.spec: dict[str, Any] | None = None
        self.codec: FeatureCodec | None = None
        self.schemas: VersionSchemas | None = None
        self.batcher: Batcher | None = None
        self.outputs: list[str] = []
        self.single_output = True
        self.signature: str | None = None

    @property
    def loaded(self) -> bool:
        return self.state in (VersionState.READY, VersionState.SERVING)

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {"version": self.version, "state": self.state.value, "path": str(self.path)}
        if self.error:
            info["error"] = self.error
        if self.loaded:
            info["outputs"] = self.outputs
            info["signature"] = self.signature
            info["loaded_at"] = self.loaded_at
            info["load_seconds"] = self.load_seconds
            info["queued_rows"] = self.batcher.queued_rows if self.batcher else 0
        return info


class Model:
    """A model name with its versions and its serving pointer."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.versions: dict[int, ModelVersion] = {}
        self.serving: ModelVersion | None = None
        self.previous: int | None = None
        self.newest_seen = 0
        self.lock = asyncio.Lock()

    def pick(self) -> ModelVersion | None:
        """The version that answers a request naming no version."""
        return self.serving

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "serving": self.serving.version if self.serving else None,
            "versions": [self.versions[v].describe() for v in sorted(self.versions)],
        }


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
        self._load_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-load")
        self._tasks: list[asyncio.Task[None]] = []
        self.initial_load_done = False

    # -- discovery ---------------------------------------------------------------
    def scan(self) -> dict[str, list[int]]:
        """Models and their version numbers found in the repository (no loading)."""
        found: dict[str, list[int]] = {}
        if not self.root.is_dir():
            return found
        for model_dir in sorted(self.root.iterdir()):
            if not model_dir.is_dir() or not _NAME_RE.match(model_dir.name) or ".." in model_dir.name:
                continue
            versions = sorted(
                int(p.name) for p in model_dir.iterdir()
                if p.is_dir() and _VERSION_RE.match(p.name) and int(p.name) > 0
            )
            if versions:
                found[model_dir.name] = versions
        return found

    def _sync_discovered(self, found: dict[str, list[int]]) -> None:
        for name, versions in found.items():
            model = self.models.get(name)
            if model is None:
                model = self.models[name] = Model(name)
            for v in versions:
                if v not in model.versions:
                    model.versions[v] = ModelVersion(name, v, self.root / name / str(v))
        self.generation += 1

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> None:
        """Starts the first load (and the repository poller) in the background."""
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._initial_load(), name="initial-load"))
        if self.settings.poll_interval_s > 0:
            self._tasks.append(loop.create_task(self._poll_forever(), name="repository-poll"))

    async def _initial_load(self) -> None:
        found = self.scan()
        self._sync_discovered(found)
        for name, versions in found.items():
            model = self.models[name]
            model.newest_seen = max(versions)
            pinned = self.settings.model_versions.get(name)
            candidates = [pinned] if pinned is not None else sorted(versions, reverse=True)
            for v in candidates:
                if v not in model.versions:
                    log.error("model %s: pinned version %s is not in the repository", name, v)
                    continue
                try:
                    await self.activate(name, v)
                    break
                except RegistryError as exc:
                    log.error("model %s version %s did not load: %s", name, v, exc.message)
        for name in self.settings.model_versions.keys() - found.keys():
            log.error("model %s is pinned but not in the repository %s", name, self.root)
        self.initial_load_done = True

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.poll_interval_s)
            try:
                await self.poll_once()
            except Exception:
                log.exception("repository poll failed")

    async def poll_once(self) -> None:
        """Discovers new versions; under the ``latest`` policy loads and activates them."""
        if not self.initial_load_done:
            return
        found = self.scan()
        self._sync_discovered(found)
        for name, versions in found.items():
            model = self.models[name]
            newest = max(versions)
            if newest <= model.newest_seen:
                continue
            model.newest_seen = newest
            if self.settings.version_policy is VersionPolicy.LATEST:
                try:
                    await self.activate(name, newest)
                except RegistryError as exc:
                    log.error("model %s version %s did not load: %s", name, newest, exc.message)

    async def close(self) -> None:
        """Stops background work and drains every batcher."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        for model in self.models.values():
            for mv in model.versions.values():
                if mv.batcher is not None:
                    await mv.batcher.close()
        self._load_executor.shutdown(wait=False, cancel_futures=True)

    # -- loading -------------------------------------------------------------------
    def _get(self, name: str, version: int) -> tuple[Model, ModelVersion]:
        model = self.models.get(name)
        if model is None:
            raise ModelNotFound(f"unknown model {name!r}", known=sorted(self.models))
        mv = model.versions.get(version)
        if mv is None:
            raise ModelNotFound(
                f"model {name!r} has no version {version}", known=sorted(model.versions)
            )
        return model, mv

    def _load_sync(self, mv: ModelVersion) -> tuple[Any, FeatureCodec, VersionSchemas, SignatureRunner, list[str]]:
        loader = self._loader
        if loader is None:
            from ctrkit.export import load_bundle

            loader = load_bundle
        bundle = loader(mv.path)
        spec = bundle.spec
        codec = FeatureCodec(spec, max_rows=self.settings.max_rows_per_request)
        outputs = list(getattr(bundle, "output_names", None) or spec["model"]["outputs"])
        runner = SignatureRunner(bundle, outputs)
        example = codec.example_row()
        for rows in sorted({1, min(self.settings.warmup_rows, self.settings.max_rows_per_request)}):
            columns, n = codec.decode({"instances": [example] * rows})
            result = runner.call_default(columns)
            for name in outputs:
                arr = result[name]
                if arr.shape != (n,):
                    raise ValueError(f"warm-up: output {name!r} has shape {arr.shape} for {n} rows")
                if not np.all(np.isfinite(arr)):
                    raise ValueError(f"warm-up: output {name!r} is not finite")
        probe, n = codec.decode({"instances": codec.probe_rows(min(32, self.settings.max_rows_per_request))})
        if runner.use_packed_if_equal(probe, runner.call_default(probe)):
            runner(probe)
        schemas = build_schemas(mv.model, mv.version, codec, outputs, self.settings.max_rows_per_request)
        return bundle, codec, schemas, runner, outputs

    async def load(self, name: str, version: int) -> ModelVersion:
        """Loads and warms up a version (not yet serving); a no-op if it is loaded."""
        if name not in self.models or version not in self.models[name].versions:
            self._sync_discovered(self.scan())
        model, mv = self._get(name, version)
        async with model.lock:
            return await self._load_locked(mv)

    async def _load_locked(self, mv: ModelVersion) -> ModelVersion:
        if mv.loaded:
            return mv
        if not mv.path.is_dir():
            mv.state, mv.error = VersionState.FAILED, f"{mv.path} does not exist"
            raise RegistryError(mv.error)
        mv.state, mv.error = VersionState.LOADING, None
        self.generation += 1
        start = time.perf_counter()
        loop = asyncio.get_running_loop()
        try:
            bundle, codec, schemas, runner, outputs = await loop.run_in_executor(
                self._load_executor, self._load_sync, mv
            )
        except Exception as exc:  # a broken bundle must not stop the service
            mv.state, mv.error = VersionState.FAILED, f"{type(exc).__name__}: {exc}"
            self.generation += 1
            self.metrics.model_loads.labels(mv.model, "failed").inc()
            log.error("model %s version %s failed to load: %s", mv.model, mv.version, mv.error)
            raise RegistryError(f"model {mv.model!r} version {mv.version} failed to load: {mv.error}") from exc
        s = self.settings
        batcher = Batcher(
            runner,
            name=f"{mv.model}-{mv.version}",
            max_batch_rows=s.max_batch_rows,
            batch_timeout_s=s.batch_timeout_ms / 1000.0,
            max_queue_rows=s.max_queue_rows,
            workers=s.model_workers,
            observer=self.metrics.observer(mv.model, mv.version_label, outputs),
        )
        batcher.start()
        mv.bundle, mv.spec, mv.codec, mv.schemas, mv.batcher = bundle, bundle.spec, codec, schemas, batcher
        mv.outputs = outputs
        mv.single_output = len(outputs) == 1
        mv.signature = "serving_packed" if runner.packed else "serving_default"
        mv.load_seconds = time.perf_counter() - start
        mv.loaded_at = time.time()
        mv.state = VersionState.READY
        self.generation += 1
        self.metrics.model_loads.labels(mv.model, "ok").inc()
        self.metrics.model_load_duration.labels(mv.model).observe(mv.load_seconds)
        log.info("model %s version %s loaded and warmed up in %.2fs", mv.model, mv.version, mv.load_seconds)
        return mv

    async def activate(self, name: str, version: int) -> ModelVersion:
        """Makes a version the serving one, loading it first if needed."""
        if name not in self.models or version not in self.models[name].versions:
            self._sync_discovered(self.scan())
        model, mv = self._get(name, version)
        async with model.lock:
            await self._load_locked(mv)
            old = model.serving
            if old is not mv:
                model.serving = mv  # the atomic swap
                mv.state = VersionState.SERVING
                if old is not None:
                    old.state = VersionState.READY
                    model.previous = old.version
                self.generation += 1
                log.info("model %s now serves version %s", name, version)
            return mv

    async def rollback(self, name: str) -> ModelVersion:
        """Serves the previously serving version again."""
        model = self.models.get(name)
        if model is None:
            raise ModelNotFound(f"unknown model {name!r}", known=sorted(self.models))
        if model.previous is None or model.previous not in model.versions:
            raise RegistryError(f"model {name!r} has no previous version to roll back to")
        return await self.activate(name, model.previous)

    async def unload(self, name: str, version: int) -> ModelVersion:
        """Unloads a version after its queued and running batches finish."""
        model, mv = self._get(name, version)
        async with model.lock:
            if model.serving is mv:
                raise RegistryError(f"model {name!r} version {version} is serving; activate another first")
            batcher = mv.batcher
            mv.state = VersionState.UNLOADED
            self.generation += 1
            if batcher is not None:
                await batcher.close()
            mv.bundle = mv.codec = mv.schemas = mv.batcher = None
            self.metrics.forget(name, mv.version_label)
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

    def loaded_versions(self) -> Iterator[ModelVersion]:
        for model in self.models.values():
            for mv in model.versions.values():
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

    def describe(self) -> dict[str, Any]:
        return {"models": [self.models[n].describe() for n in sorted(self.models)]}

