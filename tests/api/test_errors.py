"""One mapping from errors to answers: the same fault gets the same status on every route, and an
unexpected error is a 500 with a JSON body and a correlation id that the log names with the traceback."""

from __future__ import annotations

import json
import logging

import pytest

from functions.answers import respond
from shared.platform.errors import BadRequest, NotFound, StateConflict, UserError, http_answer

BAD_NAME = "..%2Fetc"
DECISION = {"by": "ana", "reason": "checked"}


def answer(response) -> tuple[int, dict]:
    return response.status_code, json.loads(response.get_body())


def test_an_invalid_model_name_is_400_on_every_route(call, api_env):
    lookups = [call(name, route_params={"name": BAD_NAME}) for name in ("model_overview", "model_lineage")]
    rollback = call("rollback_model", method="POST", body=DECISION, route_params={"name": BAD_NAME})
    for response in [*lookups, rollback]:
        status, body = answer(response)
        assert status == 400 and "model name" in body["error"] and "not valid" in body["error"]


def test_an_invalid_run_id_is_400_on_every_route(call, api_env):
    responses = [call("run_timeline", route_params={"run_id": "../x"})]
    responses += [call(name, method="POST", body=DECISION, route_params={"run_id": "../x"})
                  for name in ("approve_run", "reject_run")]
    for response in responses:
        status, body = answer(response)
        assert status == 400 and "run id" in body["error"]


def test_an_unknown_run_is_404_on_every_route(call, api_env):
    responses = [call("run_timeline", route_params={"run_id": "nosuchrun"})]
    responses += [call(name, method="POST", body=DECISION, route_params={"run_id": "nosuchrun"})
                  for name in ("approve_run", "reject_run")]
    assert [answer(r)[0] for r in responses] == [404, 404, 404]


@pytest.mark.parametrize("name", ["score", "feedback", "approve_run", "rollback_model"])
def test_a_body_that_is_not_json_is_400_with_a_json_error(call, api_env, name):
    response = call(name, method="POST", raw=b"{not json", route_params={"run_id": "abc", "name": "m"})
    status, body = answer(response)
    assert status == 400 and body["error"].startswith("the body must be JSON")


def test_an_unexpected_error_is_a_500_with_a_correlation_id_logged_with_its_traceback(caplog):
    def broken():
        raise KeyError("boom")

    with caplog.at_level(logging.ERROR, logger="functions"):
        response = respond("probe", broken)
    status, body = answer(response)
    assert status == 500 and response.mimetype == "application/json"
    assert body["correlation_id"] and response.headers["X-Correlation-Id"] == body["correlation_id"]
    assert "boom" not in body["error"]  # internals stay in the log
    [record] = [r for r in caplog.records if body["correlation_id"] in r.getMessage()]
    assert record.exc_info is not None and record.exc_info[0] is KeyError


def test_user_errors_answer_their_own_status_and_message():
    assert [http_answer(e).status for e in (BadRequest("b"), NotFound("n"), StateConflict("c"))] == [400, 404, 409]
    assert http_answer(BadRequest("missing by", missing=["by"])).body == {"error": "missing by", "missing": ["by"]}
    assert issubclass(NotFound, UserError) and http_answer(RuntimeError("x")).status == 500
