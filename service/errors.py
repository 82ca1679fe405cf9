"""Errors a request can meet on the way to its scores, with the HTTP status each answers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["DeadlineExceeded", "Overloaded", "PayloadError", "Unavailable"]


class PayloadError(Exception):
    """An invalid request; ``errors`` lists every problem found.

    Each error is a dict with ``loc`` (JSON path of the value), ``msg`` (a
    sentence naming the feature and the row), ``type``, ``feature`` and ``row``
    (``None`` when the problem is not tied to one). ``named`` is the
    ``(model, version)`` the body asked for, when it could be read: a body
    meant for another version is decoded again with that version's schema.
    """

    def __init__(self, errors: list[dict[str, Any]], status_code: int = 422) -> None:
        self.errors = errors
        self.status_code = status_code
        self.named: tuple[Any, Any] = (None, None)
        super().__init__("; ".join(e["msg"] for e in errors))

    @classmethod
    def single(
        cls,
        msg: str,
        kind: str = "value_error",
        loc: Sequence[str | int] = ("body",),
        feature: str | None = None,
        row: int | None = None,
        status_code: int = 422,
    ) -> "PayloadError":
        return cls(
            [{"loc": list(loc), "msg": msg, "type": kind, "feature": feature, "row": row}],
            status_code,
        )


class Overloaded(Exception):
    """No room for the request's work, or no chance to meet its deadline (answer 503)."""


class DeadlineExceeded(Exception):
    """The request's deadline passed before its scores were ready (answer 504)."""


class Unavailable(Exception):
    """The model version stopped taking work (it is being unloaded; answer 503)."""
