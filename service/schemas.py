"""Pydantic models generated from a model version's feature spec: the validators of record.

Every prediction body is validated by these models, straight from its raw bytes
(``model_validate_json``), and the same models feed the OpenAPI document at
``/docs``, so what is documented is what is enforced. Each feature's field
carries its type (strict: no string-to-number coercion), its id range, its list
length and its default. A value the JSON parser itself refuses (a lone UTF-16
surrogate, a number too large to parse) never reaches the models; the decoder
locates it.

One envelope model takes every form of ``POST /predict`` (validating only the
form present is as fast as a model of one form; a union of forms costs two to
three times more):

* rows: ``{"model"?, "version"?, "instances": [{feature: value}, ...]}``
* columns: ``{"model"?, "version"?, "inputs": {feature: [values]}}``
* ranking: ``{"model"?, "version"?, "context": {feature: value},
  "candidates": [{feature: value}, ...] | {feature: [values]}}``: the context's
  features are sent once and apply to every candidate.

The TensorFlow Serving REST envelope takes ``{"signature_name"?, "instances" |
"inputs"}`` with the same row and column models.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, create_model, model_validator

from service.features import FLOAT32_MAX, Feature, example_row

__all__ = ["FORMS", "VersionSchemas", "VersionText", "build_schemas"]

FORMS = ("instances", "inputs", "context")
FiniteFloat = Annotated[float, Strict(), Field(allow_inf_nan=False, ge=-FLOAT32_MAX, le=FLOAT32_MAX)]
VersionText = Annotated[str, Field(pattern=r"^[0-9]{1,18}$")]
Version = Annotated[int, Strict(), Field(ge=1, lt=2**63)] | VersionText
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


def value_type(f: Feature) -> Any:
    """The type of one row's value of ``f``."""
    element = _element_type(f)
    if f.kind in ("varlen", "weight"):
        return Annotated[list[element], Field(max_length=f.maxlen)]  # type: ignore[valid-type]
    if f.kind == "dense" and f.dimension > 1:
        return Annotated[list[element], Field(min_length=f.dimension, max_length=f.dimension)]  # type: ignore[valid-type]
    return element


def _row_field(f: Feature) -> tuple[Any, Any]:
    description = _describe(f)
    if f.kind == "length":
        return value_type(f) | None, Field(None, description=description)
    if f.required:
        return value_type(f), Field(..., description=description)
    return value_type(f), Field(f.default, description=f"{description}; default {f.default!r}")


def _column_field(f: Feature) -> tuple[Any, Any]:
    element = value_type(f) | None if f.kind == "length" else value_type(f)  # a null length is derived
    column = list[element]  # type: ignore[misc,valid-type]
    if f.required:
        return column, Field(..., description=_describe(f))
    return column | None, Field(None, description=_describe(f) + ("" if f.kind == "length" else f"; default {f.default!r}"))


def _optional_field(f: Feature, column: bool) -> tuple[Any, Any]:
    annotation = list[value_type(f)] if column else value_type(f)  # type: ignore[misc]
    return annotation | None, Field(None, description=_describe(f))


def _check_one_form(model: BaseModel) -> BaseModel:
    present = [name for name in FORMS if getattr(model, name) is not None]
    candidates = getattr(model, "candidates", None)
    if present == ["context"] and candidates is None:
        raise ValueError("a ranking request needs 'candidates' beside 'context'")
    if not present and candidates is not None:
        present = ["context"]
    if len(present) != 1:
        forms = "'instances' (rows), 'inputs' (columns) or 'context' with 'candidates' (ranking)"
        raise ValueError(f"give exactly one of {forms}" + (f"; got {', '.join(present)}" if present else ""))
    return model


@dataclass(frozen=True)
class VersionSchemas:
    """The generated models of one model version (shared by versions with the same features)."""

    row: type[BaseModel]
    columns: type[BaseModel]
    context: type[BaseModel]
    candidate: type[BaseModel]
    candidate_columns: type[BaseModel]
    request: type[BaseModel]
    tf_request: type[BaseModel]
    response: type[BaseModel]

    def documented(self) -> list[tuple[type[BaseModel], str]]:
        """``(model, mode)`` pairs for the OpenAPI document."""
        return [(self.request, "validation"), (self.tf_request, "validation"), (self.response, "serialization")]


def build_schemas(
    model: str, version: int, features: list[Feature], outputs: list[str], max_rows: int
) -> VersionSchemas:
    """Pydantic models of the requests and answer of one model version."""
    prefix = f"{_ident(model)}_v{version}"
    example = example_row(features)
    row = create_model(  # type: ignore[call-overload]
        f"{prefix}_Row", __config__=ConfigDict(extra="forbid", json_schema_extra={"examples": [example]}),
        **{f.name: _row_field(f) for f in features},
    )
    columns = create_model(  # type: ignore[call-overload]
        f"{prefix}_Columns", __config__=_FORBID, **{f.name: _column_field(f) for f in features}
    )
    context = create_model(  # type: ignore[call-overload]
        f"{prefix}_Context", __config__=_FORBID, **{f.name: _optional_field(f, False) for f in features}
    )
    candidate = create_model(  # type: ignore[call-overload]
        f"{prefix}_Candidate", __config__=_FORBID, **{f.name: _optional_field(f, False) for f in features}
    )
    candidate_columns = create_model(  # type: ignore[call-overload]
        f"{prefix}_CandidateColumns", __config__=_FORBID, **{f.name: _optional_field(f, True) for f in features}
    )
    rows_of = {m: Annotated[list[m], Field(min_length=1, max_length=max_rows)] for m in (row, candidate)}  # type: ignore[valid-type]
    forms_doc = {
        "oneOf": [{"required": ["instances"]}, {"required": ["inputs"]}, {"required": ["context", "candidates"]}]
    }
    request = create_model(  # type: ignore[call-overload]
        f"{prefix}_PredictRequest",
        __config__=ConfigDict(extra="forbid", json_schema_extra=forms_doc),
        __validators__={"one_form": model_validator(mode="after")(_check_one_form)},
        model=(Literal[model] | None, Field(None, description="Model name (optional when the service serves one model).")),  # type: ignore[valid-type]
        version=(Version | None, Field(None, description="Version; the serving version (or the canary split) when omitted.")),
        instances=(rows_of[row] | None, Field(None, description="Row form: one object of features per row.")),
        inputs=(columns | None, Field(None, description="Column form: one list of values per feature, all of the same length.")),
        context=(context | None, Field(None, description="Ranking form: features shared by every candidate, sent once.")),
        candidates=(
            rows_of[candidate] | candidate_columns | None,
            Field(None, union_mode="left_to_right",
                  description="Ranking form: the candidates' own features, as rows or as columns; one score each, in order."),
        ),
    )
    tf_request = create_model(  # type: ignore[call-overload]
        f"{prefix}_TFServingRequest",
        __config__=ConfigDict(extra="forbid", json_schema_extra={"oneOf": forms_doc["oneOf"][:2]}),
        __validators__={"one_form": model_validator(mode="after")(_check_tf_form)},
        signature_name=(Literal["serving_default", ""] | None,
                        Field(None, description='Only "serving_default" (or empty) is served.')),
        instances=(rows_of[row] | None, Field(None, description="Row form: one object of features per row.")),
        inputs=(columns | None, Field(None, description="Column form: one list of values per feature.")),
    )
    if len(outputs) == 1:
        answer_fields: dict[str, Any] = {
            "predictions": (list[float], Field(..., description=f"Output {outputs[0]!r}, one score per row."))
        }
    else:
        out_model = create_model(  # type: ignore[call-overload]
            f"{prefix}_Outputs",
            **{name: (list[float], Field(..., description="One score per row.")) for name in outputs},
        )
        answer_fields = {"outputs": (out_model, Field(..., description="One list of scores per task."))}
    response = create_model(  # type: ignore[call-overload]
        f"{prefix}_Response",
        model=(str, Field(..., description="Model that answered.")),
        version=(int, Field(..., description="Version that computed the scores.")),
        **answer_fields,
    )
    return VersionSchemas(row, columns, context, candidate, candidate_columns, request, tf_request, response)


def _check_tf_form(model: BaseModel) -> BaseModel:
    present = [name for name in ("instances", "inputs") if getattr(model, name) is not None]
    if len(present) != 1:
        raise ValueError("give exactly one of 'instances' (rows) or 'inputs' (columns)")
    return model
