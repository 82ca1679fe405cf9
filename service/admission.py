"""Admission control: how much request work the service has accepted, and when to refuse more.

Two bounds keep an overloaded service answering. :class:`BodyBudget` bounds the
bytes of request bodies being read and parsed at once: a request whose declared
``Content-Length`` does not fit is refused (503) before a byte of its body is
read, so a refusal costs next to nothing. The batcher bounds the rows queued
for the model and the wait its rate implies (:mod:`service.batching`); before
reading a body the service also estimates its rows from its size
(:class:`RowEstimate`) and refuses at once what the queue could not take.
Both keep a reserve for small requests, so that large ones cannot starve them.
"""

from __future__ import annotations

__all__ = ["BodyBudget", "RowEstimate"]

# Share of the budget kept for bodies of at most 1/16 of it. Half: with the default 2 MiB, one body of
# half a megabyte or more is parsed at a time, which is what keeps an event loop that parses about 30 MB/s
# answering within tens of milliseconds when hundreds of such bodies arrive at once (measured: with room for
# two, 1-row requests sent meanwhile waited over a second; with room for one, under half a second, and more
# large requests were answered 200).
_SMALL_RESERVE = 0.5


class BodyBudget:
    """Bytes of request bodies accepted and not yet parsed, bounded by ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0

    def acquire(self, size: int) -> bool:
        """Takes ``size`` bytes if they fit (large bodies leave a reserve for small ones)."""
        limit = self.limit
        if size > limit // 16:
            limit -= int(limit * _SMALL_RESERVE)
        if self.in_use + size > limit and self.in_use > 0:
            return False
        self.in_use += size
        return True

    def release(self, size: int) -> None:
        self.in_use -= size


class RowEstimate:
    """Bytes per row of a model version's bodies (a moving average of decoded requests)."""

    def __init__(self) -> None:
        self.bytes_per_row: float | None = None

    def record(self, size: int, rows: int) -> None:
        ratio = size / rows
        self.bytes_per_row = ratio if self.bytes_per_row is None else 0.9 * self.bytes_per_row + 0.1 * ratio

    def rows(self, size: int) -> int:
        """The rows a body of ``size`` bytes likely holds (0 before any measurement)."""
        if self.bytes_per_row is None:
            return 0
        return int(size / (self.bytes_per_row * 1.5))
