"""Property-based fuzzing of the HTTP API from its OpenAPI description (functions/openapi.json), with
hypothesis: for every operation, request bodies built from the property names its schema declares
(each given arbitrary JSON, so the values are of every type and size), arbitrary JSON besides, and
arbitrary text in the path parameters and the query. Every answer must be below 500 with a body, and
nothing may raise. Cases are counted on the reliability line."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reliability.test_http_corpus import OPENAPI, judge, request

SPEC = json.loads(OPENAPI.read_text())
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63) | st.floats(allow_nan=True)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)


def properties(schema: dict[str, Any] | None) -> set[str]:
    """Every property name a request schema declares, through $ref, allOf and oneOf."""
    if not schema:
        return set()
    if "$ref" in schema:
        return properties(SPEC["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]])
    names = set(schema.get("properties", {}))
    for key in ("allOf", "oneOf", "anyOf"):
        for part in schema.get(key, []):
            names |= properties(part)
    if schema.get("type") == "array":
        names |= properties(schema.get("items"))
    return names


OPERATIONS = [
    (op["operationId"], method.upper(), path,
     sorted(properties(op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema"))),
     [p["name"] for p in op.get("parameters", []) if p["in"] == "path"])
    for path, methods in SPEC["paths"].items() for method, op in methods.items()
]


@st.composite
def bodies(draw, names: list[str]) -> bytes:
    if names and draw(st.booleans()):
        chosen = draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names)))
        value: Any = {name: draw(JSON) for name in chosen}
        if "records" in chosen and draw(st.booleans()):
            value["records"] = draw(st.lists(st.dictionaries(st.text(max_size=8), JSON, max_size=4), max_size=4))
    else:
        value = draw(JSON)
    return json.dumps(value, allow_nan=True).encode()


@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_requests_to_every_operation_answer_below_500(functions, serving, tally, data):
    for name, method, path, names, path_params in OPERATIONS:
        raw = data.draw(bodies(names), label=f"{name} body")
        params = {key: data.draw(st.text(max_size=70), label=f"{name} {key}") for key in path_params}
        query = data.draw(st.dictionaries(st.sampled_from(["status", "model", "limit", "token", "code"]),
                                          st.text(max_size=30), max_size=3), label=f"{name} query")

        def call(name=name, method=method, raw=raw, params=params, query=query) -> func.HttpResponse:
            base = request(name, method, raw, params)
            return functions[name](func.HttpRequest(method, base.url, headers=dict(base.headers), params=query,
                                                    route_params=params, body=raw))

        judge(tally, f"{method} {path} fuzzed", call)
    tally.assert_clean()
