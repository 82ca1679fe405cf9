"""From a request body's bytes to the packed matrices a model version takes.

A :class:`Decoder` validates the raw bytes with the version's generated
pydantic models (:mod:`service.schemas`, strict, straight from JSON), then
writes the validated values into the per-dtype matrices of the bundle's packed
signature (:class:`ctrkit.export.PackedLayout`): for each group one
``np.array`` over the rows' values, lists padded in place. What pydantic cannot
express stays here: list padding, lengths derived from lists, weights matching
their lists, columns of equal length, and the ranking form's rule that a
feature comes from the context or from the candidates.

Every problem becomes a :class:`~service.errors.PayloadError` whose items name
the feature and the row (``row 3, feature 'user_id': id 500 is outside [0,
120)``); a problem found in many rows is reported once with a count. A body the
JSON parser refuses (a lone UTF-16 surrogate, bytes that are not UTF-8, a
number too large to parse) is read again by a lenient parser to name the value
at fault, so that such a value is refused alone and never reaches TensorFlow.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain
from operator import attrgetter, itemgetter
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from ctrkit.export import PackedLayout
from service.duplicates import colon_free, refuse_repeated_keys
from service.errors import PayloadError
from service.features import Feature
from service.messages import ErrorSink as _Sink
from service.messages import SentNumber as _Number
from service.messages import describe as _describe
from service.messages import not_utf8, unknown_feature
from service.messages import shorten as _shorten
from service.messages import value_message as _value_message
from service.schemas import VersionSchemas

__all__ = ["Decoded", "Decoder", "peek"]

_PAD = {"strings": "", "ints": 0, "floats": 0.0}


@dataclass(slots=True)
class Decoded:
    """A validated request: its matrices, row count, form and the model/version it names."""

    packed: dict[str, np.ndarray]
    rows: int
    form: str
    model: str | None
    version: int | None


class Envelope(BaseModel):
    """The top level of a body, unchecked: what it names and which forms it holds."""

    model_config = ConfigDict(extra="ignore")
    model: Any = None
    version: Any = None
    instances: Any = None
    inputs: Any = None
    context: Any = None
    candidates: Any = None

    def forms(self) -> list[str]:
        return [name for name in ("instances", "inputs", "context", "candidates") if getattr(self, name) is not None]


def peek(body: bytes) -> Envelope:
    """The top level of a body; :class:`PayloadError` when it is not a JSON object."""
    try:
        return Envelope.model_validate_json(body)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        if error["type"] == "json_invalid":
            raise PayloadError.single(
                f"the body is not valid JSON: {str(error['msg']).removeprefix('Invalid JSON: ')}", "json_invalid"
            ) from None
        raise PayloadError.single(f"the body must be a JSON object, got {_describe(error.get('input'))}",
                                  "type_error") from None


class _Group:
    """How one packed matrix is filled: its scalar features at once, then each list."""

    def __init__(self, group: str, layout: PackedLayout, features: dict[str, Feature]) -> None:
        self.name = group
        self.dtype = layout.GROUP_DTYPES[group]
        self.width = layout.widths[group]
        fields = [f for f in layout.groups[group] if features[f.name].kind != "length"]  # lengths: filled last
        self.scalars = [(features[f.name], f.offset) for f in fields if not features[f.name].is_list]
        self.lists = [(features[f.name], f.offset, f.width) for f in fields if features[f.name].is_list]
        names = tuple(f.name for f, _ in self.scalars)
        self.scalar_names = names
        self.getter = itemgetter(*names) if names else None
        offsets = [off for _, off in self.scalars]
        # every column is a scalar feature, in order: one np.array call builds the matrix
        self.whole = offsets == list(range(self.width))
        self.index = offsets

    def matrix(self, n: int) -> np.ndarray:
        if self.name == "strings":
            return np.full((n, self.width), "", dtype=object)
        return np.zeros((n, self.width), dtype=self.dtype)


_fields_set = attrgetter("__pydantic_fields_set__")


class Decoder:
    """Validates request bodies for one model version and builds its packed inputs.

    Args:
        features: the version's features (:func:`service.features.parse_features`).
        layout: the packed layout of its signature.
        schemas: its generated pydantic models.
    """

    def __init__(self, features: list[Feature], layout: PackedLayout, schemas: VersionSchemas) -> None:
        self.features = features
        self.by_name = {f.name: f for f in features}
        self.layout = layout
        self.schemas = schemas
        self.input_names = tuple(f.name for f in features)
        self._groups = [_Group(g, layout, self.by_name) for g in layout.groups]
        self._fields = layout.fields
        self._lengths = [f for f in features if f.kind == "length"]
        self._weights = [f for f in features if f.kind == "weight"]
        self._colon_free = colon_free([*self.input_names, *(f.default for f in features)])
        # no lists, lengths or weights: a ranking request's candidates can be built like rows
        self._scalars_only = all(not g.lists for g in self._groups) and not self._lengths and not self._weights

    # -- entry points -------------------------------------------------------------
    def decode(self, body: bytes, tf_serving: bool = False) -> Decoded:
        """The matrices of a ``POST /predict`` (or TensorFlow Serving ``:predict``) body."""
        model = self.schemas.tf_request if tf_serving else self.schemas.request
        try:
            request = model.model_validate_json(body)
        except ValidationError as exc:
            raise self._failure(body, exc.errors(include_url=False), tf_serving) from None
        if request.instances is not None:
            built, form = self._from_rows(list(map(vars, request.instances))), "instances"
        elif request.inputs is not None:
            built, form = self._from_columns(vars(request.inputs), "inputs"), "inputs"
        else:
            built, form = self._ranking(request.context, request.candidates, b"null" in body), "context"
        refuse_repeated_keys(body, request, built[0], form, self._colon_free)  # the parser keeps the last
        return self._finish(built, form, request)

    def decode_rows(self, rows: list[dict[str, Any]]) -> Decoded:
        """The matrices of rows given as Python objects (warm-up and checks)."""
        return self.decode(json.dumps({"instances": rows}).encode())

    def _finish(self, built: tuple[dict[str, np.ndarray], int], form: str, request: BaseModel) -> Decoded:
        packed, n = built
        version = getattr(request, "version", None)
        return Decoded(packed, n, form, getattr(request, "model", None),
                       int(version) if version is not None else None)

    # -- building ---------------------------------------------------------------------
    def _from_rows(self, rows: list[dict[str, Any]]) -> tuple[dict[str, np.ndarray], int]:
        n = len(rows)
        sink = _Sink("instances")
        packed: dict[str, np.ndarray] = {}
        lengths: dict[str, np.ndarray] = {}
        for g in self._groups:
            if g.whole:
                packed[g.name] = np.array(list(map(g.getter, rows)), dtype=g.dtype).reshape(n, g.width)
                continue
            m = g.matrix(n)
            if g.scalars:
                m[:, g.index] = np.array(list(map(g.getter, rows)), dtype=g.dtype).reshape(n, len(g.scalars))
            for f, offset, width in g.lists:
                self._fill_list(m, offset, width, f, [row[f.name] for row in rows], sink, lengths)
            packed[g.name] = m
        self._check_companions(packed, lengths, sink, [[row.get(f.name) for row in rows] for f in self._lengths])
        return self._done(packed, n, sink)

    def _from_columns(self, columns: dict[str, Any], form: str) -> tuple[dict[str, np.ndarray], int]:
        sink = _Sink(form)
        present = [(name, values) for name, values in columns.items() if values is not None]
        if not present:
            raise PayloadError.single(f"'{form}' holds no columns", "missing", ("body", form))
        first, n = present[0][0], len(present[0][1])
        for name, values in present[1:]:
            if len(values) != n:
                sink.add(name, None, f"column has {len(values)} values but {first!r} has {n}", "value_error")
        if (err := sink.error()) is not None:
            raise err
        packed, lengths = self._columns_into(columns, n, sink, {})
        self._check_companions(packed, lengths, sink, [columns.get(f.name) for f in self._lengths])
        return self._done(packed, n, sink)

    def _columns_into(self, columns: dict[str, Any], n: int, sink: _Sink,
                      broadcast: dict[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Matrices from columns (``None``: the default) and values broadcast to every row."""
        packed: dict[str, np.ndarray] = {}
        lengths: dict[str, np.ndarray] = {}
        for g in self._groups:
            m = np.empty((n, g.width), dtype=g.dtype) if g.whole else g.matrix(n)
            for f, offset in g.scalars:
                values = columns.get(f.name)
                if f.name in broadcast:
                    m[:, offset] = broadcast[f.name]
                elif values is None:
                    m[:, offset] = f.default if f.has_default else _PAD[g.name]
                else:
                    m[:, offset] = values
            for f, offset, width in g.lists:
                if f.name in broadcast:
                    values = [broadcast[f.name]] * n
                else:
                    values = columns.get(f.name)
                    if values is None:
                        values = [f.default if f.has_default else []] * n if f.kind != "length" else None
                if values is not None:
                    self._fill_list(m, offset, width, f, values, sink, lengths)
            packed[g.name] = m
        return packed, lengths

    @staticmethod
    def _done(packed: dict[str, np.ndarray], n: int, sink: _Sink) -> tuple[dict[str, np.ndarray], int]:
        if (err := sink.error()) is not None:
            raise err
        return packed, n

    def _fill_list(self, m: np.ndarray, offset: int, width: int, f: Feature, values: list[Any], sink: _Sink,
                   lengths: dict[str, np.ndarray]) -> None:
        """Writes list values (padded to ``width``) or dense vectors into ``m[:, offset:offset+width]``."""
        block = m[:, offset : offset + width]
        if f.kind == "dense":
            block[:] = np.array(values, dtype=m.dtype).reshape(len(values), width)
            return
        lens = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
        lengths[f.name] = lens
        if lens.any():
            block[np.arange(width) < lens[:, None]] = list(chain.from_iterable(values))

    def _check_companions(self, packed: dict[str, np.ndarray], lengths: dict[str, np.ndarray], sink: _Sink,
                          lengths_given: list[Any]) -> None:
        """Fills derived lengths, checks given lengths and weights against their lists."""
        for f, given in zip(self._lengths, lengths_given):
            actual = lengths.get(f.length_of)
            field = self._fields[f.name]
            column = packed[field.group][:, field.offset]
            if given is None or actual is None:
                column[:] = actual if actual is not None else 0
                continue
            if not isinstance(given, list):  # broadcast context value
                given = [given] * len(actual)
            values = [a if g is None else g for g, a in zip(given, actual.tolist())]
            column[:] = values
            for i in np.flatnonzero(column != actual).tolist():
                sink.add(f.name, i, f"length {int(column[i])} differs from the {int(actual[i])} values of {f.length_of!r}",
                         "value_error")
        for f in self._weights:
            own, of = lengths.get(f.name), lengths.get(f.weight_of)
            if own is None or of is None:
                continue
            for i in np.flatnonzero(own != of).tolist():
                sink.add(f.name, i, f"{int(own[i])} weights for the {int(of[i])} values of {f.weight_of!r}", "value_error")

    def _ranking(self, context: BaseModel, candidates: Any, nulls: bool) -> tuple[dict[str, np.ndarray], int]:
        """``nulls``: whether the body may hold an explicit null (without one, no sent value is None)."""
        shared = {k: v for k, v in vars(context).items() if v is not None} if context is not None else {}
        if isinstance(candidates, list) and self._scalars_only:
            built = self._ranking_rows(shared, candidates, nulls)
            if built is not None:
                return built
        sink = _Sink("candidates")
        rows_form = isinstance(candidates, list)
        if rows_form:
            n = len(candidates)
            rows = list(map(vars, candidates))
            sent = set().union(*map(_fields_set, candidates))
            columns: dict[str, Any] = {f.name: [row[f.name] for row in rows] for f in self.features if f.name in sent}
        else:
            columns = {k: v for k, v in vars(candidates).items() if v is not None}
            sizes = {len(v) for v in columns.values()}
            if len(sizes) > 1:
                first = next(iter(columns))
                for name, values in columns.items():
                    if len(values) != len(columns[first]):
                        sink.add(name, None, f"column has {len(values)} values but {first!r} has {len(columns[first])}",
                                 "value_error")
                raise sink.error()  # type: ignore[misc]
            n = sizes.pop() if sizes else 0
            if n == 0:
                raise PayloadError.single("'candidates' holds no rows", "too_short", ("body", "candidates"))
        for name in shared.keys() & columns.keys():
            rows_given = [i for i, v in enumerate(columns[name]) if v is not None]
            sink.add(name, rows_given[0], "given both in the context and in the candidates; give it in one place",
                     "value_error")
        for f in self.features:
            if f.name in shared or f.kind == "length":
                continue
            values = columns.get(f.name)
            if values is None:
                if f.required:
                    sink.add(f.name, None, "missing required feature (give it in the context or in every candidate)",
                             "missing", loc=["body", "candidates", f.name])
                continue
            # candidates sent as rows leave None where one omits the feature; columns hold no None
            holes = [i for i, v in enumerate(values) if v is None] if rows_form and None in values else []
            if holes:
                if f.required:
                    for i in holes:
                        sink.add(f.name, i, "missing required feature", "missing")
                else:
                    columns[f.name] = [f.default if v is None else v for v in values]
        if (err := sink.error()) is not None:
            raise err
        packed, lengths = self._columns_into(columns, n, sink, shared)
        self._check_companions(packed, lengths, sink, [columns.get(f.name, shared.get(f.name)) for f in self._lengths])
        return self._done(packed, n, sink)

    def _ranking_rows(self, shared: dict[str, Any], candidates: list[BaseModel],
                      nulls: bool) -> tuple[dict[str, np.ndarray], int] | None:
        """The usual ranking request, built like the row form: every candidate sends the same scalar
        features, none of them null or also in the context, and every other feature is in the context
        or has a default. Each group's matrix is one ``np.array`` over the candidates' values with the
        context's values written across it. None for anything else (the general path then builds the
        request or names its problems)."""
        sent = _fields_set(candidates[0])
        if not all(map(sent.__eq__, map(_fields_set, candidates))) or not sent.isdisjoint(shared):
            return None
        rows = list(map(vars, candidates))
        n = len(rows)
        packed: dict[str, np.ndarray] = {}
        for g in self._groups:
            own = [(f, off) for f, off in g.scalars if f.name in sent]
            m = np.empty((n, g.width), dtype=g.dtype)
            if own:
                values = list(map(itemgetter(*(f.name for f, _ in own)), rows))
                if nulls and (None in values if len(own) == 1 else any(None in v for v in values)):
                    return None  # an explicit null: the general path names it
                m[:, [off for _, off in own]] = np.array(values, dtype=g.dtype).reshape(n, len(own))
            for f, off in g.scalars:
                if f.name in sent:
                    continue
                if f.name in shared:
                    m[:, off] = shared[f.name]
                elif f.has_default:
                    m[:, off] = f.default
                else:
                    return None  # missing: the general path names it
            packed[g.name] = m
        return packed, n

    # -- errors -------------------------------------------------------------------------
    def _failure(self, body: bytes, errors: list[dict[str, Any]], tf_serving: bool) -> PayloadError:
        if any(e["type"] == "json_invalid" for e in errors):
            return _locate_json_problem(body, errors[0]["msg"], self.by_name)
        errors = _as_sent(body, errors)
        try:
            envelope = peek(body)
        except PayloadError as exc:
            return exc
        forms = envelope.forms()
        both = [f for f in forms if f in ("instances", "inputs", "context")]
        if len(both) > 1 or (tf_serving and {"context", "candidates"} & set(forms) and len(forms) > 1):
            exc = PayloadError.single(f"give exactly one of 'instances' (rows), 'inputs' (columns)"
                                      f"{'' if tf_serving else ' or context with candidates (ranking)'}; "
                                      f"got {', '.join(forms)}", "value_error")
        else:
            exc = self._translate(errors, tf_serving)
        exc.named = (envelope.model, envelope.version)
        return exc

    def _translate(self, errors: list[dict[str, Any]], tf_serving: bool) -> PayloadError:
        sink = _Sink("body")
        errors = _drop_union_misses(errors)
        for e in errors:
            loc = list(e["loc"])
            top = loc[0] if loc else None
            if top in ("instances", "inputs", "context", "candidates"):
                form = str(top)
                if form == "candidates" and len(loc) > 1 and isinstance(loc[1], str) and (
                        loc[1].startswith("list[") or loc[1].endswith("CandidateColumns")):
                    columns = not loc[1].startswith("list[")
                    loc = [form] + loc[2:]
                else:
                    columns = form == "inputs"
                sink.form = form
                self._feature_error(sink, form, columns, loc, e)
                continue
            sink.form = "body"
            if top in ("model", "version", "signature_name") and e["type"] != "extra_forbidden":
                message = _field_message(str(top), e)
                sink.add(None, None, message if top == "signature_name" else f"{top}: {message}", "value_error",
                         key=top, loc=["body", top])
            elif e["type"] == "extra_forbidden":
                expected = ("'instances' or 'inputs', and optionally 'signature_name'" if tf_serving else
                            "'instances', 'inputs' or 'context' with 'candidates', and optionally 'model' and 'version'")
                sink.add(None, None, f"unknown field {_shorten(top)!r}; a request holds {expected}", "extra_forbidden",
                         key=top, loc=["body", str(top)])
            elif e["type"] == "model_type":
                sink.add(None, None, f"the body must be a JSON object, got {_describe(e.get('input'))}", "type_error")
            else:
                sink.add(None, None, str(e["msg"]).removeprefix("Value error, "), e["type"])
        return sink.error() or PayloadError.single("invalid request")

    def _feature_error(self, sink: _Sink, form: str, columns: bool, loc: list[Any], e: dict[str, Any]) -> None:
        kind, value = e["type"], e.get("input")
        if len(loc) == 1:
            ctx = e.get("ctx") or {}
            if kind == "too_long":
                sink.add(None, None, f"too many rows: {ctx.get('actual_length')} > {ctx.get('max_length')} allowed "
                         f"per request", "too_long", key=form, loc=["body", form])
            elif kind == "too_short":
                sink.add(None, None, f"'{form}' holds no rows", "too_short", key=form, loc=["body", form])
            else:
                wanted = "an object of columns" if columns or form == "context" else "a list of rows"
                sink.add(None, None, f"'{form}' must be {wanted}, got {_describe(value)}", "type_error", key=form,
                         loc=["body", form])
            return
        if form == "context":
            row, feature, rest = None, loc[1], loc[2:]
        elif columns:
            feature = loc[1]
            row = loc[2] if len(loc) > 2 else None
            rest = loc[3:]
        else:
            row = loc[1]
            feature = loc[2] if len(loc) > 2 else None
            rest = loc[3:]
        sink.form = form
        where = ["body", form] + [p for p in ((feature, row) if columns else (row, feature)) if p is not None]
        if feature is None:
            sink.add(None, row, f"a row must be an object of features, got {_describe(value)}", "type_error",
                     loc=where)
            return
        if columns and row is None and kind in ("too_long", "too_short"):
            ctx = e.get("ctx") or {}
            if kind == "too_long":
                msg = f"too many rows: {ctx.get('actual_length')} > {ctx.get('max_length')} allowed per request"
            else:
                msg = "the column holds no values"
            sink.add(str(feature), None, msg, kind, loc=where)
            return
        f = self.by_name.get(str(feature))
        if f is None or kind == "extra_forbidden":
            sink.add(str(feature), row, self._unknown(str(feature)), "unknown_feature", key=feature, loc=where)
            return
        what, kind = _value_message(f, kind, value, e.get("ctx") or {}, rest, columns and row is None)
        sink.add(f.name, row, what, kind, loc=where + rest)

    def _unknown(self, name: str) -> str:
        return unknown_feature(name, self.input_names)


def _drop_union_misses(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keeps, of the ``candidates`` union's errors, those of the member the input matched."""
    members: dict[str, list[dict[str, Any]]] = {}
    for e in errors:
        loc = e["loc"]
        if len(loc) > 1 and loc[0] == "candidates" and isinstance(loc[1], str):
            members.setdefault(loc[1], []).append(e)
    if len(members) < 2:
        return errors
    keep = None
    for label, errs in members.items():
        if not any(len(x["loc"]) == 2 and x["type"] in ("list_type", "model_type", "dict_type") for x in errs):
            keep = label
    if keep is None:  # neither a list nor an object
        keep = next(iter(members))
        errors = [e for e in errors if not (len(e["loc"]) > 1 and e["loc"][0] == "candidates"
                                            and e["loc"][1] != keep)]
        return [{**e, "loc": ("candidates",), "type": "model_type"} if e["loc"][:2] == ("candidates", keep) else e
                for e in errors]
    return [e for e in errors if not (len(e["loc"]) > 1 and e["loc"][0] == "candidates" and e["loc"][1] != keep)]


def _field_message(field: str, e: dict[str, Any]) -> str:
    value = e.get("input")
    if field == "model":
        if e["type"] == "literal_error":
            return f"{_shorten(repr(value), 60)} is not served here"
        return f"expected a model name (a string), got {_describe(value)}"
    if field == "version":
        return f"invalid version {_shorten(repr(value), 60)}: expected a positive integer"
    if isinstance(value, str):
        return (f'Serving signature name: {_shorten(repr(value), 60)} not found in signature def '
                '(requests are served by "serving_default")')
    return f"expected a string, got {_describe(value)}"


# -- values the JSON parser refuses --------------------------------------------------------

def _lenient(body: bytes) -> Any:
    """The body parsed with every number kept as its text; invalid UTF-8 bytes kept as surrogates."""
    return json.loads(body.decode("utf-8", "surrogateescape"), parse_int=_Number, parse_float=_Number,
                      parse_constant=_Number)


def _as_sent(body: bytes, errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``errors`` with each non-finite float input (``1e400``, ``Infinity`` and ``NaN`` all parse to one)
    replaced by the text the client sent, found by a lenient parse."""
    if not any(isinstance(e.get("input"), float) and not math.isfinite(e["input"]) for e in errors):
        return errors
    try:
        payload = _lenient(body)
    except (ValueError, RecursionError):
        return errors
    fixed = []
    for e in errors:
        if isinstance(e.get("input"), float) and not math.isfinite(e["input"]):
            value = payload
            for step in e["loc"]:
                if isinstance(step, int) and isinstance(value, list) and step < len(value):
                    value = value[step]
                elif isinstance(step, str) and isinstance(value, dict) and step in value:
                    value = value[step]
                elif not isinstance(step, str):
                    value = None
                    break
                # else: a union member's label, not a key of the body
            if isinstance(value, _Number):
                e = {**e, "input": value}
        fixed.append(e)
    return fixed


def _walk(payload: Any) -> Iterator[tuple[str, int | None, str, Any]]:
    """``(form, row, feature, value)`` of every feature value in a parsed body."""
    if not isinstance(payload, dict):
        return
    for form in ("instances", "candidates"):
        rows = payload.get(form)
        if isinstance(rows, list):
            for i, row in enumerate(rows):
                if isinstance(row, dict):
                    for name, value in row.items():
                        yield form, i, name, value
    for form in ("inputs", "candidates"):
        columns = payload.get(form)
        if isinstance(columns, dict):
            for name, values in columns.items():
                if isinstance(values, list):
                    for i, value in enumerate(values):
                        yield form, i, name, value
    context = payload.get("context")
    if isinstance(context, dict):
        for name, value in context.items():
            yield "context", None, name, value


def _problem(f: Feature | None, value: Any) -> str | None:
    """Why the JSON parser refused ``value`` (None when it is not the culprit)."""
    if isinstance(value, list):
        for j, element in enumerate(value):
            problem = _problem(f, element)
            if problem is not None:
                return f"element {j}: {problem}"
        return None
    if isinstance(value, _Number) and value.is_number:
        if value.is_int:
            digits = value.lstrip("-")
            if len(digits) > 18:
                if f is not None and f.id_range is not None:
                    lo, hi = f.id_range
                    return f"id {_shorten(value)} is outside [{lo}, {hi})"
                return f"the number {_shorten(value)} is too large"
            return None
        if not math.isfinite(float(value)):
            return f"the number {_shorten(value)} is too large (beyond the double range)"
        return None
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            bad = value[exc.start]
            if "\udc80" <= bad <= "\udcff":
                return not_utf8(ord(bad) - 0xDC00, exc.start)
            return f"the string holds a lone UTF-16 surrogate ({bad.encode('unicode_escape').decode()} at character " \
                   f"{exc.start}), which is not valid Unicode"
    return None


def _sent_text(text: str) -> str:
    """A string holding undecodable bytes or lone surrogates, shown as escaped bytes."""
    shown = "".join(f"\\x{ord(c) - 0xDC00:02x}" if "\udc80" <= c <= "\udcff"
                    else c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
    return f"'{_shorten(shown, 60)}'"


def _locate_json_problem(body: bytes, parser_message: str, features: dict[str, Feature]) -> PayloadError:
    detail = parser_message.removeprefix("Invalid JSON: ")
    try:
        payload = _lenient(body)
    except (ValueError, RecursionError):
        return PayloadError.single(f"the body is not valid JSON: {detail}", "json_invalid")
    sink = _Sink("body")
    for key in payload if isinstance(payload, dict) else ():
        if (problem := _problem(None, key)) is not None:
            sink.add(None, None, f"field name {_sent_text(key)}: {problem}", "value_error", key=key, loc=["body"])
    for form, row, name, value in _walk(payload):
        sink.form = form
        if (problem := _problem(None, name)) is not None:
            sink.add(None, row, f"feature name {_sent_text(name)}: {problem}", "value_error", key=name)
            continue
        problem = _problem(features.get(name), value)
        if problem is not None:
            kind = "out_of_range" if "outside" in problem else "value_error"
            sink.add(name, row, problem, kind)
    if isinstance(payload, dict):
        for key in ("model", "version"):
            problem = _problem(None, payload.get(key))
            if problem is not None:
                sink.add(None, None, f"{key}: {problem}", "value_error", key=key, loc=["body", key])
    return sink.error() or PayloadError.single(f"the body is not valid JSON: {detail}", "json_invalid")
