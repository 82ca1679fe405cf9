"""The bench's load cases: what each sends, to which servers, over how many connections.

A case names a body form and the rows each request scores; :class:`BodyFactory`
builds its bodies from the feature spec. Adding a case is adding a
:class:`Case` to :func:`standard_cases` (and a form to :meth:`BodyFactory.payload`
when the body is new); a body with its own headers (a binary protocol's, say)
goes through wrk the same way as JSON.

Example::

    factory = BodyFactory(spec, count=8)
    for case in standard_cases():
        bodies = factory.bodies(case.form, case.rows)
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loadtest.requestgen import (
    RequestGenerator,
    context_features,
    dumps,
    ranking_as_rows,
    ranking_candidates_as_columns,
)
from loadtest.wrk import Body

__all__ = [
    "BOTH", "CTRKIT", "FORMS", "OVERLOAD_KEY", "RANKING_FORMS", "BodyFactory", "Case", "overload_case", "standard_cases",
]

CTRKIT = ("ctrkit",)
BOTH = ("ctrkit", "naive")
OVERLOAD_KEY = "overload"
# body forms: rows (instances), columns (inputs), ranking (context + candidates as rows),
# ranking_columns (the same ranking bodies with the candidates as columns),
# ranking_rows (the ranking bodies' rows in row form, the context merged into each candidate)
FORMS = ("rows", "columns", "ranking", "ranking_columns", "ranking_rows")
RANKING_FORMS = ("ranking", "ranking_columns")


@dataclass(frozen=True)
class Case:
    """One load: ``connections`` connections sending ``form`` bodies of ``rows`` rows to each of ``servers``.

    ``path`` may name the served model as ``{model}`` (``/v1/models/{model}:predict``).
    """

    key: str
    title: str
    form: str
    rows: int
    connections: int
    servers: tuple[str, ...]
    path: str = "/predict"

    def __post_init__(self) -> None:
        if self.form not in FORMS:
            raise ValueError(f"case {self.key!r}: form must be one of {FORMS}, got {self.form!r}")
        if self.rows < 1 or self.connections < 1:
            raise ValueError(f"case {self.key!r}: rows and connections must be at least 1")
        if not self.servers:
            raise ValueError(f"case {self.key!r}: no server to load")


def standard_cases() -> list[Case]:
    """The cases every run measures, in order, each in every round."""
    return [
        Case("1row_1conn", "1 row, 1 connection", "rows", 1, 1, BOTH),
        Case("1row_32conn", "1 row, 32 connections", "rows", 1, 32, BOTH),
        Case("100rows_32conn", "100 rows (row form), 32 connections", "rows", 100, 32, BOTH),
        Case("100columns_32conn", "100 rows (column form), 32 connections", "columns", 100, 32, CTRKIT),
        Case("ranking_32conn", "ranking, 100 candidates, half the features in the context, 32 connections",
             "ranking", 100, 32, CTRKIT),
        Case("ranking_columns_32conn", "ranking, the same bodies with the candidates as columns, 32 connections",
             "ranking_columns", 100, 32, CTRKIT),
        Case("ranking_rows_32conn", "the same ranking rows in row form, 32 connections", "ranking_rows", 100, 32,
             CTRKIT),
    ]


def overload_case(connections: int, rows: int) -> Case:
    """``connections`` connections sending ``rows``-row row-form bodies, against ctrkit only."""
    return Case(OVERLOAD_KEY, f"overload: {connections} connections, {rows:,}-row bodies", "rows", rows,
                connections, CTRKIT)


class BodyFactory:
    """Bodies for every form, ``count`` distinct ones per form and size, reproducible from ``seed``.

    The ``ranking_rows`` bodies hold exactly the rows of the ``ranking`` bodies
    of the same size.
    """

    def __init__(self, spec: Mapping[str, Any], count: int, seed: int = 0) -> None:
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        self.spec = spec
        self.count = count
        self.seed = seed
        self.context = context_features(spec)

    def payload(self, form: str, rows: int, index: int) -> dict[str, Any]:
        """Body ``index`` (0 to ``count - 1``) of a form and size, as a dict."""
        # ranking_columns and ranking_rows draw what ranking draws: the same rows
        key = f"{self.seed}:{'ranking' if form.startswith('ranking') else form}:{rows}:{index}"
        generator = RequestGenerator(self.spec, seed=zlib.crc32(key.encode()))
        if form in ("rows", "columns"):
            return generator.payload(rows, form)
        if form == "ranking":
            return generator.ranking_payload(rows, self.context)
        if form == "ranking_columns":
            return ranking_candidates_as_columns(generator.ranking_payload(rows, self.context))
        if form == "ranking_rows":
            return ranking_as_rows(generator.ranking_payload(rows, self.context))
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")

    def bodies(self, form: str, rows: int) -> list[Body]:
        """The ``count`` bodies of a form and size."""
        return [Body(dumps(self.payload(form, rows, i))) for i in range(self.count)]
