"""Prediction requests built from a model's ``feature_spec.json``.

Categorical values (sparse ids, strings, vocabulary keys and the elements of
variable-length lists) follow a truncated Zipf law: a few values are very
frequent and there is a long tail, as in real ad logs. Dense values are
heavy-tailed non-negative counts (Criteo-like) or, for vectors, small
normally distributed numbers. Length inputs are left out (the service derives
them from the lists) and weight lists match their lists' lengths.

Only the standard library is used, so the same module runs inside a bare
locust installation.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

try:
    import orjson

    def dumps(value: Any) -> bytes:
        return orjson.dumps(value)

except ImportError:  # a plain locust install has no orjson

    def dumps(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()


__all__ = [
    "FORMS",
    "RequestGenerator",
    "context_features",
    "dumps",
    "parse_rows_option",
    "ranking_as_rows",
    "ranking_candidates_as_columns",
    "zipf_cum_weights",
]

FORMS = ("rows", "columns")
# distinct raw values drawn for a hashed feature: enough for a long tail, cheap to hold
_MAX_DISTINCT = 20_000
_INT32_MAX = 2**31 - 1


def zipf_cum_weights(n: int, exponent: float) -> list[float]:
    """Cumulative weights of ranks ``1..n`` with probability proportional to ``rank**-exponent``."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if exponent < 0:
        raise ValueError(f"exponent must be >= 0, got {exponent}")
    return list(itertools.accumulate(k ** -exponent for k in range(1, n + 1)))


def parse_rows_option(text: str | int) -> tuple[int, int]:
    """``"100"`` -> ``(100, 100)``; ``"1-200"`` -> ``(1, 200)``: rows per request, drawn uniformly."""
    low, sep, high = str(text).partition("-")
    try:
        bounds = (int(low), int(high) if sep else int(low))
    except ValueError:
        raise ValueError(f"rows per request must be N or LOW-HIGH, got {text!r}") from None
    if not 1 <= bounds[0] <= bounds[1]:
        raise ValueError(f"rows per request must satisfy 1 <= LOW <= HIGH, got {text!r}")
    return bounds


def context_features(spec: Mapping[str, Any]) -> list[str]:
    """Features a ranking request sends once, in its context: the first half (rounded up) of each kind.

    For a Criteo-like spec (sparse ``C1``-``C26``, dense ``I1``-``I13``) that is
    ``C1``-``C13`` and ``I1``-``I7``; weight lists go with their lists, length
    inputs are left out (the service derives them).
    """
    by_kind: dict[str, list[str]] = {}
    for entry in spec["features"]:
        if entry.get("kind", "sparse") not in ("length", "weight"):
            by_kind.setdefault(entry.get("kind", "sparse"), []).append(entry["name"])
    context = [name for names in by_kind.values() for name in names[: (len(names) + 1) // 2]]
    context += [e["name"] for e in spec["features"] if e.get("kind") == "weight" and e["weight_of"] in context]
    return context


def ranking_candidates_as_columns(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The same ranking body with its candidates in column form: one list of values per candidate feature.

    Every candidate must send the same features (a column holds one value per candidate, never a null)."""
    candidates = payload["candidates"]
    names = list(candidates[0]) if candidates else []
    if any(candidate.keys() != candidates[0].keys() for candidate in candidates):
        raise ValueError("candidates as columns need every candidate to send the same features")
    return {**payload, "candidates": {name: [c[name] for c in candidates] for name in names}}


def ranking_as_rows(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The rows a ranking body scores, in row form: the context merged into every candidate."""
    context = payload["context"]
    body: dict[str, Any] = {"instances": [{**context, **candidate} for candidate in payload["candidates"]]}
    if "model" in payload:
        body = {"model": payload["model"], **body}
    return body


class _Categorical:
    """Draws values of one categorical feature with Zipf frequencies over its domain."""

    def __init__(self, entry: Mapping[str, Any], rng: random.Random, exponent: float) -> None:
        is_string = entry.get("dtype", "string") == "string"
        vocabulary = entry.get("vocabulary")
        size = int(entry.get("vocabulary_size") or 0)
        if vocabulary:
            values: list[Any] = list(vocabulary)
            if not is_string:
                values = [int(v) for v in values]
            rng.shuffle(values)
        elif is_string:
            distinct = min(max(2 * size, 16), _MAX_DISTINCT)
            values = [f"{rng.getrandbits(32):08x}" for _ in range(distinct)]
        elif entry.get("use_hash"):
            values = [rng.randrange(_INT32_MAX) for _ in range(min(max(2 * size, 16), _MAX_DISTINCT))]
        else:
            if size < 1:
                raise ValueError(f"feature {entry['name']!r}: an integer id feature needs vocabulary_size")
            # ids in [0, vocabulary_size), the popular ones spread over the range
            values = rng.sample(range(size), min(size, _MAX_DISTINCT))
        self.values = values
        self.cum_weights = zipf_cum_weights(len(values), exponent)

    def draw(self, rng: random.Random, k: int) -> list[Any]:
        return rng.choices(self.values, cum_weights=self.cum_weights, k=k)


class RequestGenerator:
    """Makes request rows and bodies for one model from its feature spec.

    Args:
        spec: the bundle's ``feature_spec.json`` as a dict (``features`` is what is read).
        seed: random seed; two generators with the same spec and seed make the same requests.
        zipf_exponent: skew of categorical values (0: uniform; 1.05-1.3 is typical of ad logs).
        missing_rate: share of string values sent empty, as raw logs have them.

    Example::

        gen = RequestGenerator(json.load(open("models/criteo_deepfm/1/feature_spec.json")))
        body = gen.body(100, "columns", model="criteo_deepfm")
    """

    def __init__(
        self,
        spec: Mapping[str, Any],
        *,
        seed: int = 0,
        zipf_exponent: float = 1.1,
        missing_rate: float = 0.02,
    ) -> None:
        if not 0 <= missing_rate < 1:
            raise ValueError(f"missing_rate must be in [0, 1), got {missing_rate}")
        features = spec.get("features")
        if not features:
            raise ValueError("the feature spec lists no features")
        self.rng = random.Random(seed)
        self.missing_rate = missing_rate
        self.names: list[str] = []
        self._columns: list[Callable[[int, dict[str, list[Any]]], list[Any]]] = []
        # lists first: their weights copy their lengths
        ordered = sorted(features, key=lambda e: e.get("kind") == "weight")
        for entry in ordered:
            kind = entry.get("kind", "sparse")
            if kind == "length":
                continue
            self.names.append(entry["name"])
            self._columns.append(self._column_maker(entry, kind, zipf_exponent))

    def _column_maker(self, entry: Mapping[str, Any], kind: str, exponent: float):
        rng = self.rng
        name = entry["name"]
        if kind == "sparse":
            cat = _Categorical(entry, rng, exponent)
            if entry.get("dtype", "string") == "string" and not entry.get("vocabulary") and self.missing_rate:
                rate = self.missing_rate
                return lambda n, done: ["" if rng.random() < rate else v for v in cat.draw(rng, n)]
            return lambda n, done: cat.draw(rng, n)
        if kind == "dense":
            dim = int(entry.get("dimension") or 1)
            if dim == 1:
                # counts with a heavy tail: floor(lognormal), mostly small, sometimes large
                return lambda n, done: [float(math.floor(rng.lognormvariate(1.0, 1.5))) for _ in range(n)]
            return lambda n, done: [[round(rng.gauss(0.0, 1.0), 4) for _ in range(dim)] for _ in range(n)]
        if kind == "varlen":
            cat = _Categorical(entry, rng, exponent)
            maxlen = int(entry["maxlen"])

            def lists(n: int, done: dict[str, list[Any]]) -> list[Any]:
                return [cat.draw(rng, rng.randint(1, maxlen)) for _ in range(n)]

            return lists
        if kind == "weight":
            of = entry["weight_of"]

            def weights(n: int, done: dict[str, list[Any]]) -> list[Any]:
                return [[round(rng.uniform(0.1, 2.0), 3) for _ in values] for values in done[of]]

            return weights
        raise ValueError(f"feature {name!r}: unknown kind {kind!r}")

    def columns(self, n: int) -> dict[str, list[Any]]:
        """``n`` rows in column form: ``{feature: [value per row]}``."""
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        done: dict[str, list[Any]] = {}
        for name, make in zip(self.names, self._columns):
            done[name] = make(n, done)
        return done

    def rows(self, n: int) -> list[dict[str, Any]]:
        """``n`` rows in row form: ``[{feature: value}, ...]``."""
        columns = self.columns(n)
        names = list(columns)
        return [dict(zip(names, values)) for values in zip(*columns.values())]

    def payload(self, n: int, form: str, model: str | None = None) -> dict[str, Any]:
        """A ``/predict`` body as a dict; ``form`` is ``rows`` (instances) or ``columns`` (inputs)."""
        if form == "rows":
            body: dict[str, Any] = {"instances": self.rows(n)}
        elif form == "columns":
            body = {"inputs": self.columns(n)}
        else:
            raise ValueError(f"form must be one of {FORMS}, got {form!r}")
        if model is not None:
            body = {"model": model, **body}
        return body

    def ranking_payload(self, n: int, context: Sequence[str], model: str | None = None) -> dict[str, Any]:
        """A ranking body: ``{"context": {feature: value}, "candidates": [{feature: value}, ...]}``.

        ``context`` names the features sent once (see :func:`context_features`);
        the ``n`` candidates carry the others.
        """
        unknown = set(context) - set(self.names)
        if unknown:
            raise ValueError(f"context features not in the spec: {sorted(unknown)}")
        shared = set(context)
        rows = self.rows(n + 1)
        body: dict[str, Any] = {
            "context": {k: v for k, v in rows[0].items() if k in shared},
            "candidates": [{k: v for k, v in row.items() if k not in shared} for row in rows[1:]],
        }
        if model is not None:
            body = {"model": model, **body}
        return body

    def body(self, n: int, form: str, model: str | None = None) -> bytes:
        """:meth:`payload` serialised to JSON bytes."""
        return dumps(self.payload(n, form, model))

