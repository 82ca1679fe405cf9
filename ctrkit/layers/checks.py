"""Argument checks shared by the layers.

Each check raises `ValueError` naming the argument, the rule and the value
given, and returns the value in its plain Python type, so NumPy scalars (from
a config read back, a grid search, ...) are accepted and stored as `int`,
`float` or `bool`.

Example:
    >>> check_int("k", 3, low=1)
    3
    >>> check_number("dropout_rate", 1.5, low=0, high=1)
    Traceback (most recent call last):
    ...
    ValueError: `dropout_rate` must be a number in [0, 1), got 1.5.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np


def check_int(name: str, value: Any, low: int | None = None, *, none_ok: bool = False) -> int | None:
    """An integer (not a bool) >= `low`; None too when `none_ok`."""
    if value is None and none_ok:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or (low is not None and value < low):
        rule = "an integer" if low is None else f"an integer >= {low}"
        raise ValueError(f"`{name}` must be {rule}{' or None' if none_ok else ''}, got {value!r}.")
    return int(value)


def check_number(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = True,
) -> float:
    """A real number (not a bool) in the interval from `low` to `high`;
    `low` is included unless `low_open`, `high` excluded unless not `high_open`."""
    ok = not isinstance(value, (bool, np.bool_)) and isinstance(value, numbers.Real)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        if low is not None and high is not None:
            rule = f"a number in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        elif low is not None:
            rule = f"a number {'>' if low_open else '>='} {low}"
        elif high is not None:
            rule = f"a number {'<' if high_open else '<='} {high}"
        else:
            rule = "a number"
        raise ValueError(f"`{name}` must be {rule}, got {value!r}.")
    return float(value)


def check_bool(name: str, value: Any) -> bool:
    """True or False (a NumPy bool too)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"`{name}` must be a bool, got {value!r}.")
    return bool(value)


def check_int_list(name: str, values: Any, low: int = 1, *, min_length: int = 0) -> list[int]:
    """A list or tuple of integers >= `low`, at least `min_length` long."""
    ok = isinstance(values, Iterable) and not isinstance(values, (str, bytes, dict))
    items = list(values) if ok else []
    ok = ok and len(items) >= min_length and all(
        not isinstance(v, (bool, np.bool_)) and isinstance(v, numbers.Integral) and v >= low for v in items
    )
    if not ok:
        length = f"{min_length} or more " if min_length else ""
        raise ValueError(f"`{name}` must be a list of {length}integers >= {low}, got {values!r}.")
    return [int(v) for v in items]


def check_choice(name: str, value: Any, choices: Sequence) -> Any:
    """One of `choices`."""
    if isinstance(value, (list, dict, set)) or value not in choices:
        raise ValueError(f"`{name}` must be one of {tuple(choices)}, got {value!r}.")
    return value
