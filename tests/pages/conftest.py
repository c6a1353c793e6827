"""Fixtures for the page tests: the chain on MemoryStorage (tests/chain/conftest.py) and the app's
page functions, called with real HttpRequest objects."""

from __future__ import annotations

from collections.abc import Callable

import azure.functions as func
import pytest

from tests.chain.conftest import (  # noqa: F401
    chain, functions, labeled_frame, push, quick_retrain, repo, trained_files,
)


@pytest.fixture(scope="session")
def pages() -> dict[str, Callable[[func.HttpRequest], func.HttpResponse]]:
    from functions import pages as blueprint

    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
    app.register_functions(blueprint.bp)
    return {fn.get_function_name(): fn.get_user_function() for fn in app.get_functions()}


@pytest.fixture
def get(pages) -> Callable[..., func.HttpResponse]:
    """GET a page by function name, with route parameters and the function key as ?code=."""

    def call(function: str, code: str | None = "key-1", **route: str) -> func.HttpResponse:
        params = {"code": code} if code else {}
        return pages[function](func.HttpRequest("GET", f"http://localhost/api/{function}", params=params,
                                                route_params=route, body=b""))

    return call
