"""The OpenAPI contract fuzzed against the running service with schemathesis.

Every operation of ``/openapi.json`` gets a bounded number of generated
requests, schema-valid and schema-invalid, and every answer must pass
schemathesis' checks: no 5xx, a documented status, a body matching the
documented schema, invalid data refused. The admin routes are fuzzed with the
token and without it. One check is left out for the prediction routes and the
traffic split: ``positive_data_acceptance`` (a schema-valid request must be
accepted), because their schemas state each value's type and range but not
the rules between values that the service enforces with 422 (a weight list as
long as its list, a feature given in the context or in every candidate,
percents summing to 100).
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance
from service_helpers import TOKEN, FakeLoader, admin_headers, serve, settings, write_fake_model

EXAMPLES = 20  # per operation, generation mode and token
CROSS_FIELD_RULES = ("/predict", ":predict", "/traffic")


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    repo = tmp_path_factory.mktemp("fuzz")
    write_fake_model(repo, "ads", 1)
    write_fake_model(repo, "ads", 2, outputs=("ctr", "cvr"))
    write_fake_model(repo, "shop", 1)
    config = settings(repo, admin_token=TOKEN, version_policy="specific", default_model="ads")
    with serve(config, loader=FakeLoader()) as server:
        yield server


def _fuzz(operation, mode: GenerationMode, base_url: str, headers: dict[str, str]) -> None:
    excluded = [positive_data_acceptance] if operation.path.endswith(CROSS_FIELD_RULES) else []
    strategy = operation.as_strategy(generation_mode=mode)
    if mode is GenerationMode.POSITIVE:  # the served names and versions (the document's examples) reach 200s
        strategy = st.one_of(strategy, *operation.schema.get_strategies_from_examples(operation))

    @given(case=strategy)
    @hypothesis_settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                         suppress_health_check=list(HealthCheck))
    def run(case):
        case.call_and_validate(base_url=base_url, headers=headers, excluded_checks=excluded, timeout=30)

    try:
        run()
    except Unsatisfiable:  # no schema-invalid request exists (an operation without parameters or body)
        pass


def test_every_answer_matches_the_document(running):
    schema = schemathesis.openapi.from_url(f"{running.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {"POST /predict", "PUT /admin/models/{name}/traffic", "GET /v1/models/{name}/metadata"} <= {
        op.label for op in operations}
    failures = {}
    for operation in operations:
        tokens = ({"with token": admin_headers(), "without token": {}} if operation.path.startswith("/admin")
                  else {"": {}})
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for who, headers in tokens.items():
                try:
                    _fuzz(operation, mode, running.url, headers)
                except Exception as exc:  # noqa: BLE001 - every operation is fuzzed, then all failures reported
                    failures[f"{operation.label} ({mode.value}{', ' + who if who else ''})"] = str(exc)[:2000]
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
