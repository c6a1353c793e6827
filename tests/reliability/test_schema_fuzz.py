"""Schema-exact property-based fuzzing with schemathesis, from functions/openapi.json, over loopback HTTP
against the real app on devhost (tests/reliability/conftest.py, `loopback`: function keys required and
sent, a production model registered, webhook secrets set).

Every operation of the description is generated in both modes: positive (requests the description
allows) and negative (requests it forbids: wrong types, missing required fields, bad path and query
values), plus the methods an operation does not have (the host answers 405 with Allow). Each answer is
checked with schemathesis' own checks: below 500; conforming to the description (status code, content
type, headers, body schema); an allowed request not refused (4xx other than 401/403/404/409), a
forbidden one refused (4xx). Besides, every answer of the app has a body. The description is exact
where it can be (patterns, bounds, the whitespace the app strips); where it cannot (the features a
record needs are the model's), the check is told. The webhooks are not signed here, so their answer is
401 (a JSON error: fine); tests/reliability/test_fuzz.py fuzzes their signed side in process. Every
generated case counts on the reliability line; a failing check fails the test with schemathesis'
reproduction (a curl line).
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from tests.reliability.test_http_corpus import OPENAPI

MAX_EXAMPLES = 25  # per operation and phase: ~20 operations, bounded to well under a minute here
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, unsupported_method, positive_data_acceptance, negative_data_rejection]
CONFIG = schemathesis.Config.from_dict({
    "generation": {"mode": "all", "max-examples": MAX_EXAMPLES,
                   "with-security-parameters": False},  # the function key is sent with every case
    # Bodies past the size, depth or item limits are refused 413 (DRIFTLINE_MAX_*), by design.
    "checks": {"negative_data_rejection": {"expected-statuses": ["400", "401", "403", "404", "405", "409", "413"]}},
    "operations": [
        # The description cannot name the model's features (they are its schema.json's), so a record it
        # allows may still lack one: 400 naming the field.
        {"include-operation-id": "score",
         "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "400"]}}},
    ],
})

schema = schemathesis.openapi.from_path(OPENAPI, config=CONFIG)


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_every_operation_answers_as_its_description_says(case, loopback, tally):
    label = f"{case.method} {case.path} ({case.meta.generation.mode.value if case.meta else 'explicit'})"
    try:
        response = case.call(base_url=loopback.api, headers=loopback.headers, timeout=30)
    except Exception as error:
        tally.case(label, f"no answer: {type(error).__name__}: {error}", "unhandled")
        raise
    # A method the operation does not have is answered by the host (405 with Allow, no body, in Azure
    # too); every answer of the app itself has a body.
    reached_app = case.method.upper() == case.operation.method.upper()
    if response.status_code >= 500 or (reached_app and not response.content):
        tally.case(label, f"{response.status_code} {response.content[:120]!r}", "5xx")
        case.validate_response(response, checks=CHECKS)  # a 5xx fails here, with its reproduction
        raise AssertionError(f"{label}: {response.status_code} with an empty body")
    try:
        case.validate_response(response, checks=CHECKS)
    except FailureGroup as failure:  # a BaseExceptionGroup: what every failing check found
        tally.case(label, f"{response.status_code}: {str(failure)[:300]}", "unhandled")
        raise
    tally.case(label)
