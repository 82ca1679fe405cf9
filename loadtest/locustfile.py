"""Locust load test of the ctrkit service.

Each user scores candidate rows with ``POST /predict``. The requests are built
from the served models' feature specs (see ``requestgen.py``): realistic,
Zipf-distributed categorical values, a configurable number of rows per request,
both body forms (``instances`` rows and ``inputs`` columns), and a weighted mix
of models when the service serves several.

Feature specs come from ``GET /v1/models/{name}/metadata`` when the service
offers it, else from the bundle path that ``GET /models`` reports (when this
machine can read it), else from ``--feature-spec`` files.

Options (each also an environment variable):

* ``--ctr-models`` / ``LOCUST_CTR_MODELS``: ``name[=weight],...`` (default: every served model, equal weights)
* ``--rows-per-request`` / ``LOCUST_ROWS_PER_REQUEST``: ``N`` or ``LOW-HIGH`` (default 100)
* ``--request-form`` / ``LOCUST_REQUEST_FORM``: ``rows``, ``columns`` or ``mixed`` (default mixed)
* ``--feature-spec`` / ``LOCUST_FEATURE_SPEC``: comma-separated ``feature_spec.json`` files or version directories
* ``--zipf-exponent`` / ``LOCUST_ZIPF_EXPONENT``: skew of categorical values (default 1.1)
* ``--body-pool`` / ``LOCUST_BODY_POOL``: request bodies prepared per model and form, reused at
  random so the client spends its CPU on sending (default 64; 0 builds every body afresh)
* ``--think-time`` / ``LOCUST_THINK_TIME``: each user waits up to this many seconds between
  requests (default 0: back to back)

Load shapes: ``LOADTEST_SHAPE=steady|ramp|spike`` picks a shape driven by
``-u``/``-r``/``-t`` (without it, locust's own ``-u``/``-r``/``-t`` behaviour applies):
``steady`` ramps to ``-u`` users and holds them; ``ramp`` climbs to ``-u`` in
``LOADTEST_STEPS`` equal stairs (default 5); ``spike`` holds a quarter of ``-u``,
jumps to ``-u`` for the middle fifth of the run, then falls back.
"""

from __future__ import annotations

import json
import math
import os
import random
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gevent.lock import Semaphore
from locust import LoadTestShape, events, task
from locust.contrib.fasthttp import FastHttpUser
from requestgen import FORMS, RequestGenerator, parse_rows_option

DEFAULT_HOST = "http://127.0.0.1:8000"
_HEADERS = {"content-type": "application/json"}


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    group = parser.add_argument_group("ctrkit requests")
    group.add_argument("--ctr-models", env_var="LOCUST_CTR_MODELS", default="",
                       help="models to load, name[=weight],... (default: every served model, equal weights)")
    group.add_argument("--rows-per-request", env_var="LOCUST_ROWS_PER_REQUEST", default="100",
                       help="candidate rows per request: N or LOW-HIGH (default: 100)")
    group.add_argument("--request-form", env_var="LOCUST_REQUEST_FORM", default="mixed",
                       choices=["rows", "columns", "mixed"], help="body form: instances rows, inputs columns, or both (default: mixed)")
    group.add_argument("--feature-spec", env_var="LOCUST_FEATURE_SPEC", default="",
                       help="comma-separated feature_spec.json files or version directories (when the service "
                            "offers no metadata; default: none)")
    group.add_argument("--zipf-exponent", env_var="LOCUST_ZIPF_EXPONENT", type=float, default=1.1,
                       help="skew of categorical feature values (default: 1.1)")
    group.add_argument("--body-pool", env_var="LOCUST_BODY_POOL", type=int, default=64,
                       help="bodies prepared per model and form (0: a new body per request; default: 64)")
    group.add_argument("--think-time", env_var="LOCUST_THINK_TIME", type=float, default=0.0,
                       help="longest pause of a user between two requests, in seconds (default: 0)")


# -- the served models and their feature specs ---------------------------------------

@dataclass
class Target:
    """One model the users send requests to."""

    name: str
    weight: float
    generator: RequestGenerator
    pools: dict[str, list[tuple[int, bytes]]] = field(default_factory=dict)


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.loads(answer.read())


def _find_features(document: Any) -> dict[str, Any] | None:
    """The first object holding a ``features`` list of feature entries, searched depth first."""
    if isinstance(document, dict):
        features = document.get("features")
        if isinstance(features, list) and features and all(isinstance(f, dict) and "name" in f for f in features):
            return document
        for value in document.values():
            found = _find_features(value)
            if found is not None:
                return found
    elif isinstance(document, list):
        for value in document:
            found = _find_features(value)
            if found is not None:
                return found
    return None


def _read_spec_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        path = path / "feature_spec.json"
    return json.loads(path.read_text())


def _served_models(host: str) -> dict[str, dict[str, Any]]:
    """Name -> description of every model with a serving version, from ``GET /models``."""
    listing = _get_json(f"{host}/models")
    return {m["name"]: m for m in listing.get("models", []) if m.get("serving") is not None}


def _spec_for(host: str, model: dict[str, Any], files: dict[str, dict[str, Any]]) -> dict[str, Any]:
    name = model["name"]
    if name in files:
        return files[name]
    try:
        found = _find_features(_get_json(f"{host}/v1/models/{name}/metadata"))
        if found is not None:
            return found
    except urllib.error.HTTPError as exc:
        if exc.code not in (404, 405):
            raise
    serving = next((v for v in model.get("versions", []) if v.get("version") == model["serving"]), None)
    if serving and serving.get("path"):
        spec_path = Path(serving["path"]) / "feature_spec.json"
        if spec_path.is_file():
            return json.loads(spec_path.read_text())
    raise RuntimeError(
        f"no feature spec for model {name!r}: the service has no metadata route and its bundle path is not "
        "readable here; pass --feature-spec PATH/TO/feature_spec.json"
    )


def _parse_weights(text: str) -> dict[str, float]:
    weights: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, weight = item.partition("=")
        weights[name.strip()] = float(weight) if sep else 1.0
        if weights[name.strip()] <= 0:
            raise ValueError(f"--ctr-models: the weight of {name!r} must be positive")
    return weights


def discover(host: str, options: Any) -> list[Target]:
    """The models to load, each with a request generator built from its feature spec."""
    served = _served_models(host)
    if not served:
        raise RuntimeError(f"{host} serves no model yet (GET /models lists no serving version)")
    files = {}
    for item in filter(None, (p.strip() for p in options.feature_spec.split(","))):
        spec = _read_spec_file(item)
        files[spec["model"]["name"]] = spec
    wanted = _parse_weights(options.ctr_models) or {name: 1.0 for name in served}
    unknown = sorted(set(wanted) - set(served))
    if unknown:
        raise RuntimeError(f"--ctr-models names {unknown}, which are not served; served: {sorted(served)}")
    return [
        Target(name, weight, RequestGenerator(_spec_for(host, served[name], files), seed=i,
                                              zipf_exponent=options.zipf_exponent))
        for i, (name, weight) in enumerate(sorted(wanted.items()))
    ]


_catalog: list[Target] = []
_catalog_lock = Semaphore()


def catalog(environment: Any) -> list[Target]:
    """The targets, discovered once per process by the first user that starts."""
    with _catalog_lock:
        if not _catalog:
            host = (environment.host or DEFAULT_HOST).rstrip("/")
            _catalog.extend(discover(host, environment.parsed_options))
    return _catalog


# -- the user ----------------------------------------------------------------------

class CtrUser(FastHttpUser):
    """An ad server asking for scores of a request's candidate rows."""

    host = DEFAULT_HOST

    def on_start(self) -> None:
        options = self.environment.parsed_options
        self.targets = catalog(self.environment)
        self.weights = [t.weight for t in self.targets]
        self.rows_range = parse_rows_option(options.rows_per_request)
        self.forms = FORMS if options.request_form == "mixed" else (options.request_form,)
        self.pool_size = max(0, options.body_pool)
        self.think_time = max(0.0, options.think_time)

    def wait_time(self) -> float:
        return random.uniform(0.0, self.think_time) if self.think_time else 0.0

    def _body(self, target: Target, form: str) -> tuple[int, bytes]:
        gen = target.generator
        if not self.pool_size:
            n = random.randint(*self.rows_range)
            return n, gen.body(n, form, model=target.name)
        pool = target.pools.setdefault(form, [])
        if len(pool) < self.pool_size:
            n = random.randint(*self.rows_range)
            pool.append((n, gen.body(n, form, model=target.name)))
            return pool[-1]
        return random.choice(pool)

    @task
    def predict(self) -> None:
        target = random.choices(self.targets, weights=self.weights)[0] if len(self.targets) > 1 else self.targets[0]
        form = random.choice(self.forms)
        rows, body = self._body(target, form)
        with self.client.post(
            "/predict", data=body, headers=_HEADERS, name=f"/predict [{form}] {target.name}", catch_response=True
        ) as answer:
            if answer.status_code != 200:
                answer.failure(f"HTTP {answer.status_code}: {(answer.text or '')[:200]}")
                return
            result = answer.json()
            scores = result.get("predictions")
            lengths = [len(scores)] if scores is not None else [len(v) for v in result.get("outputs", {}).values()]
            if not lengths or any(length != rows for length in lengths):
                answer.failure(f"expected {rows} scores, got {lengths}")


# -- load shapes (LOADTEST_SHAPE picks one) ---------------------------------------

def _common_options(shape: LoadTestShape) -> tuple[int, float, float]:
    """-u, -r and -t of the run (20 users, 10/s, 60 s when not given)."""
    options = shape.runner.environment.parsed_options
    return options.num_users or 20, options.spawn_rate or 10.0, float(options.run_time or 60)


class SteadyShape(LoadTestShape):
    """Ramps to -u users at -r users/s, holds them, stops after -t."""

    abstract = True
    use_common_options = True

    def tick(self) -> tuple[int, float] | None:
        users, rate, run_time = _common_options(self)
        return None if self.get_run_time() >= run_time else (users, rate)


class RampShape(LoadTestShape):
    """Climbs to -u users in LOADTEST_STEPS equal stairs spread over -t, then stops."""

    abstract = True
    use_common_options = True
    steps = int(os.environ.get("LOADTEST_STEPS", "5"))

    def tick(self) -> tuple[int, float] | None:
        users, rate, run_time = _common_options(self)
        elapsed = self.get_run_time()
        if elapsed >= run_time:
            return None
        step = min(self.steps - 1, int(elapsed / (run_time / self.steps)))
        return max(1, math.ceil(users * (step + 1) / self.steps)), rate


class SpikeShape(LoadTestShape):
    """A quarter of -u users, all -u for the middle fifth of -t, a quarter again; stops after -t."""

    abstract = True
    use_common_options = True

    def tick(self) -> tuple[int, float] | None:
        users, rate, run_time = _common_options(self)
        elapsed = self.get_run_time()
        if elapsed >= run_time:
            return None
        if 0.4 * run_time <= elapsed < 0.6 * run_time:
            return users, max(rate, float(users))
        return max(1, users // 4), max(rate, float(users))


SHAPES = {"steady": SteadyShape, "ramp": RampShape, "spike": SpikeShape}
_shape = os.environ.get("LOADTEST_SHAPE", "").strip().lower()
if _shape:
    if _shape not in SHAPES:
        raise ValueError(f"LOADTEST_SHAPE must be one of {sorted(SHAPES)}, got {_shape!r}")
    if RampShape.steps < 1:
        raise ValueError(f"LOADTEST_STEPS must be at least 1, got {RampShape.steps}")
    SHAPES[_shape].abstract = False  # locust runs the one shape class that is not abstract
