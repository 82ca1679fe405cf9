"""Refusing a body that repeats a key in one object (``{"user_id": 3, "user_id": 5}``).

pydantic's JSON parser keeps the last of repeated keys, so such a row would be
scored with a value the client may not have meant. Finding them by parsing
again costs about as much as the validation itself (measured by
``benchmarks/service_guards.py``), so a count settles almost every body first:

1. every key of a JSON object is followed by one ``:`` byte, so a body holding
   exactly as many ``:`` bytes as its validated objects hold keys (counted from
   pydantic's fields-set of the envelope, the rows, the columns, the context)
   repeats none. This costs about 1 % of the validation of a 100-row body.
2. colons may also stand inside string values: for the row and column forms
   the string values are all in the packed ``strings`` matrix, each once, so
   when no colon is written as ``\\u003a`` and no default adds one, the body
   repeats no key if its ``:`` bytes are the keys plus the colons of those
   strings.
3. otherwise (ranking requests whose strings hold colons, escaped colons) the
   body is parsed again by jiter, which refuses repeated keys.

A repeated key is answered 422 naming the row and the feature.

>>> from pydantic import BaseModel
>>> class Row(BaseModel):
...     user_id: int
>>> class Body(BaseModel):
...     instances: list[Row]
>>> body = b'{"instances": [{"user_id": 3, "user_id": 5}]}'
>>> try:
...     refuse_repeated_keys(body, Body.model_validate_json(body), {}, "instances", True)
... except PayloadError as exc:
...     print(exc.errors[0]["msg"])
row 0, feature 'user_id': given twice in the row; give each feature once
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from operator import attrgetter
from typing import Any

import jiter
import numpy as np
from pydantic import BaseModel

from service.errors import PayloadError

__all__ = ["colon_free", "refuse_repeated_keys"]

_FIELDS_SET = attrgetter("__pydantic_fields_set__")
_NUMPY_FROM = 4096  # bytes: numpy counts faster past this size, bytes.count below it
_COLON = ord(":")


def colon_free(texts: Iterable[Any]) -> bool:
    """Whether no text of ``texts`` (a version's feature names and string defaults) holds a colon: step 2
    applies only then."""
    return not any(isinstance(t, str) and ":" in t for t in texts)


def _colons(body: bytes) -> int:
    if len(body) < _NUMPY_FROM:
        return body.count(b":")
    return int(np.count_nonzero(np.frombuffer(body, np.uint8) == _COLON))


def _keys(request: BaseModel) -> int:
    """Keys of every object of a validated body: the envelope's and those of the objects it holds."""
    given = request.__pydantic_fields_set__
    count = len(given)
    for name in given:
        value = getattr(request, name)
        if isinstance(value, BaseModel):
            count += len(value.__pydantic_fields_set__)
        elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
            count += sum(map(len, map(_FIELDS_SET, value)))
    return count


def _string_colons(packed: dict[str, np.ndarray]) -> int:
    strings = packed.get("strings")
    if strings is None or strings.size == 0:
        return 0
    return "\x00".join(strings.ravel().tolist()).count(":")


def refuse_repeated_keys(body: bytes, request: BaseModel, packed: dict[str, np.ndarray], form: str,
                         strings_exact: bool) -> None:
    """Raises :class:`PayloadError` (422) when an object of ``body`` repeats a key.

    ``request`` is the validated body, ``packed`` the matrices built from it, ``form`` its form and
    ``strings_exact`` the :func:`colon_free` of its version.
    """
    colons = _colons(body)
    keys = _keys(request)
    if colons == keys:
        return
    if (form in ("instances", "inputs") and strings_exact and colons == keys + _string_colons(packed)
            and b"\\u003" not in body):
        return
    try:
        jiter.from_json(body, catch_duplicate_keys=True, cache_mode="none")
    except ValueError:
        raise _located(body) from None


class _Pairs(list):
    """A JSON object as its list of ``(key, value)`` pairs, repeats kept."""


def _repeat(pairs: _Pairs) -> str | None:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            return key
        seen.add(key)
    return None


def _located(body: bytes) -> PayloadError:
    """The 422 naming the first repeated key: its row and feature, or its place in the envelope."""
    payload = json.loads(body, object_pairs_hook=_Pairs, parse_int=str, parse_float=str, parse_constant=str)
    where: list[tuple[list[Any], str | None, int | None, _Pairs]] = []
    if isinstance(payload, _Pairs):
        where.append((["body"], None, None, payload))
        for form, value in payload:
            if isinstance(value, _Pairs):
                where.append((["body", form], form, None, value))
            elif isinstance(value, list):
                where += [(["body", form, i], form, i, row) for i, row in enumerate(value) if isinstance(row, _Pairs)]
    for loc, form, row, pairs in where:
        key = _repeat(pairs)
        if key is None:
            continue
        if form is None:
            return PayloadError.single(f"field {key!r} is given twice; give it once", "duplicate_key", [*loc, key])
        place = f"row {row}, feature {key!r}" if row is not None else f"{form} feature {key!r}"
        container = "row" if row is not None else f"'{form}' object"
        return PayloadError.single(f"{place}: given twice in the {container}; give each feature once",
                                   "duplicate_key", [*loc, key], feature=key, row=row)
    return PayloadError.single("an object of the body repeats a key; give each key once", "duplicate_key")
