"""Pydantic models generated from a model version's feature spec.

They describe the row form and the column form of ``POST /predict`` and the
answer, with every feature's type, range, list length and default, and feed
the OpenAPI document at ``/docs``. Requests themselves are checked by
:class:`service.codec.FeatureCodec`, which applies the same rules column by
column (much faster than validating row objects one by one) and builds the
model's input arrays in the same pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, create_model

from service.codec import Feature, FeatureCodec

__all__ = ["VersionSchemas", "build_schemas"]

_FLOAT32_MAX = 3.4028234663852886e38
FiniteFloat = Annotated[float, Strict(), Field(allow_inf_nan=False, ge=-_FLOAT32_MAX, le=_FLOAT32_MAX)]
_FORBID = ConfigDict(extra="forbid")


def _ident(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def _describe(f: Feature) -> str:
    if f.kind == "dense":
        return "dense feature: a finite number" if f.dimension == 1 else f"dense feature: a list of {f.dimension} finite numbers"
    if f.kind == "length":
        return f"length of {f.length_of!r} (derived from the list when omitted)"
    if f.kind == "weight":
        return f"weights of {f.weight_of!r}: one finite number per value, at most {f.maxlen}"
    what = "a string" if f.is_string else "an integer id"
    if f.use_hash:
        how = f"hashed into {f.vocabulary_size} buckets"
    elif f.vocabulary is not None:
        how = f"looked up in a vocabulary of {len(f.vocabulary)} keys (others share an out-of-vocabulary id)"
    elif not f.is_string and f.vocabulary_size:
        how = f"in [0, {f.vocabulary_size})"
    else:
        how = ""
    if f.kind == "varlen":
        return f"varlen feature: a list of at most {f.maxlen} values, each {what} {how}".rstrip()
    return f"{f.kind} feature: {what} {how}".rstrip()


def _element_type(f: Feature) -> Any:
    if f.is_string and f.kind in ("sparse", "varlen"):
        return Annotated[str, Strict()]
    if f.kind in ("dense", "weight"):
        return FiniteFloat
    lo, hi = f.id_range or (0, 2**63)
    return Annotated[int, Strict(), Field(ge=lo, lt=hi)]


def _value_type(f: Feature) -> Any:
    element = _element_type(f)
    if f.kind in ("varlen", "weight"):
        return Annotated[list[element], Field(max_length=f.maxlen)]  # type: ignore[valid-type]
    if f.kind == "dense" and f.dimension > 1:
        return Annotated[list[element], Field(min_length=f.dimension, max_length=f.dimension)]  # type: ignore[valid-type]
    return element


def _field(f: Feature, annotation: Any, default: Any) -> tuple[Any, Any]:
    description = _describe(f)
    if f.required:
        return annotation, Field(..., description=description)
    return annotation | None, Field(default, description=description + (f"; default {f.default!r}" if f.has_default else ""))


@dataclass(frozen=True)
class VersionSchemas:
    """The generated models of one model version."""

    row: type[BaseModel]
    columns: type[BaseModel]
    row_request: type[BaseModel]
    column_request: type[BaseModel]
    response: type[BaseModel]

    def request_models(self) -> tuple[type[BaseModel], type[BaseModel]]:
        return self.row_request, self.column_request


def build_schemas(
    model: str, version: int, codec: FeatureCodec, outputs: list[str], max_rows: int
) -> VersionSchemas:
    """Pydantic models of the requests and answer of one model version."""
    prefix = f"{_ident(model)}_v{version}"
    row_fields = {f.name: _field(f, _value_type(f), f.default) for f in codec.features}
    column_fields = {
        f.name: _field(f, list[_value_type(f) if f.required else _value_type(f) | None], None)  # type: ignore[misc]
        for f in codec.features
    }
    example = codec.example_row()
    row = create_model(f"{prefix}_Row", __config__=ConfigDict(extra="forbid", json_schema_extra={"examples": [example]}), **row_fields)  # type: ignore[call-overload]
    columns = create_model(f"{prefix}_Columns", __config__=_FORBID, **column_fields)  # type: ignore[call-overload]
    model_field = (Literal[model] | None, Field(None, description="Model name (optional when the service serves one model)."))  # type: ignore[valid-type]
    version_field = (int | None, Field(None, ge=1, description="Version; the serving version when omitted."))
    row_request = create_model(
        f"{prefix}_RowRequest",
        __config__=_FORBID,
        model=model_field,
        version=version_field,
        instances=(Annotated[list[row], Field(min_length=1, max_length=max_rows)], Field(..., description="Rows, one object of features each.")),  # type: ignore[valid-type]
    )
    column_request = create_model(
        f"{prefix}_ColumnRequest",
        __config__=_FORBID,
        model=model_field,
        version=version_field,
        inputs=(columns, Field(..., description=f"One list of values per feature, all of the same length (1 to {max_rows}).")),
    )
    if len(outputs) == 1:
        answer_fields: dict[str, Any] = {
            "predictions": (list[float], Field(..., description=f"Output {outputs[0]!r}, one score per row."))
        }
    else:
        out_model = create_model(
            f"{prefix}_Outputs",
            **{name: (list[float], Field(..., description="One score per row.")) for name in outputs},  # type: ignore[call-overload]
        )
        answer_fields = {"outputs": (out_model, Field(..., description="One list of scores per task."))}
    response = create_model(
        f"{prefix}_Response",
        model=(str, Field(..., description="Model that answered.")),
        version=(int, Field(..., description="Version that computed the scores.")),
        **answer_fields,
    )
    return VersionSchemas(row, columns, row_request, column_request, response)
