"""How an invalid request is told: one sentence per problem, naming the feature and the row.

Every decoder of request payloads (JSON bodies in :mod:`service.decoding`,
typed tensors in :mod:`service.tensors`) words its errors with these helpers
and collects them in an :class:`ErrorSink`, so that a value refused over one
protocol is refused with the same sentence over every other:

>>> from service.features import Feature
>>> user = Feature("user_id", "sparse", "int32", "int32", vocabulary_size=120)
>>> sink = ErrorSink("inputs")
>>> what, kind = value_message(user, "less_than", 500, {}, [], False)
>>> sink.add_rows("user_id", [3, 7, 9], what, kind)
>>> sink.error().errors[0]["msg"]
"row 3, feature 'user_id': id 500 is outside [0, 120) (and 2 more rows)"
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

from service.errors import PayloadError
from service.features import FLOAT32_MAX, Feature

__all__ = ["ErrorSink", "SentNumber", "describe", "not_utf8", "sent", "shorten", "unknown_feature", "value_message"]

_MAX_ERRORS = 20


def describe(value: Any) -> str:
    """What kind of JSON value ``value`` is, as a sentence says it ("a string", "a list", ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def shorten(value: Any, limit: int = 40) -> str:
    """``value`` as text, cut in the middle past ``limit`` characters (with its length)."""
    text = str(value)
    if len(text) <= limit:
        return text
    digits = f" ({len(text)} digits)" if text.lstrip("-").isdigit() else f" ({len(text)} characters)"
    return f"{text[:limit // 2]}...{text[-8:]}{digits}"


class ErrorSink:
    """Collects errors; one item per (feature, kind), counting the further rows."""

    def __init__(self, form: str) -> None:
        self.form = form
        self.items: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.more: dict[tuple[Any, ...], set[Any]] = {}

    def add(self, feature: str | None, row: int | None, what: str, kind: str, key: Any = None,
            loc: Sequence[Any] | None = None) -> None:
        k = (feature, kind, key)
        if k in self.items:
            if row is not None and row != self.items[k]["row"]:
                self.more[k].add(row)
            return
        if len(self.items) >= _MAX_ERRORS:
            return
        if feature is None:
            where = f"row {row}" if row is not None else ""
        elif row is None:
            where = f"feature {feature!r}" if self.form != "context" else f"context feature {feature!r}"
        else:
            where = f"row {row}, feature {feature!r}"
        if loc is None:
            loc = ["body", self.form] + [p for p in (row, feature) if p is not None]
        self.items[k] = {"loc": list(loc), "msg": f"{where}: {what}" if where else what, "type": kind,
                         "feature": feature, "row": row}
        self.more[k] = set()

    def add_rows(self, feature: str, rows: Iterable[int], what: str, kind: str) -> None:
        """One error about the first of ``rows`` (``what`` describes its value), counting the others."""
        rows = [int(r) for r in rows]
        if not rows:
            return
        self.add(feature, rows[0], what, kind)
        k = (feature, kind, None)
        if k in self.more:
            self.more[k].update(r for r in rows[1:] if r != self.items[k]["row"])

    def error(self) -> PayloadError | None:
        if not self.items:
            return None
        errors = []
        for k, item in self.items.items():
            more = len(self.more[k])
            if more:
                item["msg"] += f" (and {more} more row{'s' if more > 1 else ''})"
            errors.append(item)
        return PayloadError(errors)


def unknown_feature(name: str, known: Sequence[str]) -> str:
    """The sentence for an input that is not one of the model's features (with the closest name)."""
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown feature{hint}; known features: {', '.join(known)}"


def not_utf8(byte: int, at: int) -> str:
    """The sentence for a string whose character ``at`` starts with ``byte``, which is not UTF-8."""
    return f"the string is not valid UTF-8 (byte 0x{byte:02x} at character {at})"


class SentNumber(str):
    """A number kept as the text the client sent (ints of any size, floats beyond range, NaN, Infinity)."""

    @property
    def is_int(self) -> bool:
        return self.is_number and not any(c in self for c in ".eE")

    @property
    def is_number(self) -> bool:
        return self not in ("NaN", "Infinity", "-Infinity")


def sent(value: Any) -> str:
    """A scalar value as the client sent it (``the integer 7``, ``the string '7'``), else its kind."""
    if isinstance(value, SentNumber):
        return f"the number {shorten(value)}"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"the integer {shorten(value)}"
    if isinstance(value, float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {shorten(repr(value), 40)}"
    return describe(value)


def value_message(f: Feature, kind: str, value: Any, ctx: dict[str, Any], rest: list[Any],
                  whole_column: bool) -> tuple[str, str]:
    """The sentence and error type for one invalid value of ``f``."""
    prefix = f"element {rest[0]}: " if rest else ""
    if kind == "missing":
        return "missing required feature", "missing"
    if value is None and kind.endswith("_type") and not rest:
        if f.required:
            return "missing required feature (null given)", "missing"
        return f"null is not a value; leave the feature out to use its default {f.default!r}", "type_error"
    if kind in ("string_type", "int_type", "float_type", "bool_type") or (kind == "list_type" and rest):
        wanted = {"string_type": "a string", "int_type": "an integer", "float_type": "a number"}.get(kind, "a value")
        return f"{prefix}expected {wanted}, got {sent(value)}", "type_error"
    if kind == "list_type":
        if whole_column:
            return f"a column must be a list of values, got {describe(value)}", "type_error"
        if f.kind == "dense":
            return f"expected a list of {f.dimension} numbers, got {describe(value)}", "type_error"
        return f"expected a list, got {describe(value)}", "type_error"
    if kind in ("too_long", "too_short"):
        actual = ctx.get("actual_length")
        if f.kind == "dense":
            return f"expected a list of {f.dimension} numbers, got {actual}", "value_error"
        return f"a list of {actual} values is longer than maxlen {f.maxlen}", "too_long"
    if kind == "finite_number":
        if isinstance(value, SentNumber) and value.is_number:
            return f"{prefix}value {shorten(value)} is too large (beyond the double range)", "not_finite"
        return f"{prefix}value {value} is not a finite number (NaN and infinity are refused)", "not_finite"
    if kind in ("greater_than_equal", "less_than", "less_than_equal", "greater_than"):
        if f.id_range is not None:
            lo, hi = f.id_range
            what = "length" if f.kind == "length" else "id"
            return f"{prefix}{what} {shorten(value)} is outside [{lo}, {hi})", "out_of_range"
        return f"{prefix}value {value} is outside the float32 range (+-{FLOAT32_MAX:.4g})", "not_finite"
    return f"{prefix}invalid value {shorten(repr(value), 60)} ({kind})", kind
