"""Model names and versions, as clients send them in bodies and URLs.

A name is a safe directory name: letters, digits, ``_``, ``-`` and ``.``, at
most 128 characters, starting with a letter or digit, without ``..``; a version
is a positive integer (in a body, a JSON integer or a string of digits). Both
are matched whole: a trailing newline or any control character is refused.
"""

from __future__ import annotations

import re
from typing import Any

from service.errors import PayloadError

__all__ = ["NAME_RE", "VERSION_RE", "escape", "validate_model_name", "validate_version"]

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")
VERSION_RE = re.compile(r"[0-9]{1,18}")


def escape(text: Any, limit: int = 60) -> str:
    """``text`` as a quoted, escaped and shortened literal, safe in logs and messages."""
    shown = repr(text)
    return shown if len(shown) <= limit else f"{shown[:limit]}...' ({len(str(text))} characters)"


def validate_model_name(name: Any, loc: tuple[str, ...] = ("body", "model"), status_code: int = 422) -> str:
    """The model name if it is a safe directory name; :class:`PayloadError` otherwise
    (422 for a body's value; routes pass 400 for a URL's)."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name) or ".." in name:
        raise PayloadError.single(
            f"invalid model name {escape(name)}: use letters, digits, '_', '-', '.' (at most 128)",
            "value_error", loc, status_code=status_code,
        )
    return name


def validate_version(version: Any, loc: tuple[str, ...] = ("body", "version"), status_code: int = 422) -> int:
    """The version as an int; accepts a positive int or a string of digits."""
    problem = f"invalid version {escape(version)}: expected a positive integer"
    if isinstance(version, bool) or not isinstance(version, (int, str)):
        raise PayloadError.single(problem, "type_error", loc, status_code=status_code)
    if isinstance(version, str):
        if not VERSION_RE.fullmatch(version):
            raise PayloadError.single(problem, "value_error", loc, status_code=status_code)
        version = int(version)
    if not 0 < version < 2**63:
        raise PayloadError.single(problem, "value_error", loc, status_code=status_code)
    return version
