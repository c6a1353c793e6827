"""functions/openapi.json against the app: valid OpenAPI 3.1, every HTTP route the indexed app
registers documented with its methods, its auth and its function name as operationId, nothing
documented that the app does not register, and the app serves the file at GET /api/openapi.json.

A new route (an HTML page under /api/pages/... too) fails here until it is described: add its path
under `paths` with an operation per method (`operationId` = the function name, `security: []` for
anonymous routes, the function-key schemes otherwise); a page answers `text/html` and has the tag
`pages`.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import azure.functions as func
import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from tests.test_app_index import index

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = json.loads((ROOT / "functions" / "openapi.json").read_text())
FUNCTION_KEY = [{"functionKey": []}, {"functionKeyQuery": []}]


@pytest.fixture(scope="module")
def routes() -> dict[tuple[str, str], tuple[str, str]]:
    """(path as documented, method) -> (function name, auth level) for every HTTP trigger."""
    found = {}
    for name, function_json in index().items():
        for binding in function_json["bindings"]:
            if binding["type"] == "httpTrigger":
                for method in binding["methods"]:
                    found[("/" + binding["route"], method.lower())] = (name, binding["authLevel"])
    return found


def documented() -> dict[tuple[str, str], dict]:
    return {(path, method): operation for path, item in DOCUMENT["paths"].items()
            for method, operation in item.items() if method in ("get", "put", "post", "delete", "patch")}


def test_it_is_valid_openapi_3_1():
    assert DOCUMENT["openapi"].startswith("3.1.")
    validate(DOCUMENT, cls=OpenAPIV31SpecValidator)


@pytest.mark.parametrize("break_it", [
    lambda doc: doc["paths"]["/runs"]["get"]["parameters"][0].update({"in": "body"}),  # OpenAPI 2 style
    lambda doc: doc["paths"]["/runs"]["get"]["responses"]["200"].pop("description"),  # required
])
def test_the_validator_refuses_a_broken_document(break_it):
    broken = copy.deepcopy(DOCUMENT)
    break_it(broken)
    with pytest.raises(OpenAPIValidationError):
        validate(broken, cls=OpenAPIV31SpecValidator)


def test_every_route_is_documented_and_nothing_else(routes):
    assert sorted(routes) == sorted(documented())


def test_operations_name_their_function_and_auth(routes):
    for key, operation in documented().items():
        name, auth = routes[key]
        assert operation["operationId"] == name, key
        assert operation["security"] == ([] if auth == "ANONYMOUS" else FUNCTION_KEY), key


def test_path_parameters_match_the_route(routes):
    for (path, _), operation in documented().items():
        in_route = {part[1:-1] for part in path.split("/") if part.startswith("{")}
        declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        assert declared == in_route, path


def test_the_app_serves_it():
    from functions.api import openapi

    response = openapi(func.HttpRequest("GET", "/api/openapi.json", body=b""))
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert json.loads(response.get_body()) == DOCUMENT
