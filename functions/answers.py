"""HTTP answers for every route, made in one place.

`respond(where, call)` runs a handler's core call and turns what it returns or raises into a response:
- an `Answer` (status, body, headers) or a plain dict (200) becomes JSON;
- a `UserError` answers its own status and one-sentence message (`shared.platform.errors.http_answer`);
- anything else is unexpected: logged with its traceback under a correlation id, answered 500 with a
  JSON body naming that id. No route answers an empty 500.

Only azure.functions and the standard library load at import; the errors module on the first request.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import azure.functions as func

if TYPE_CHECKING:
    from shared.platform.errors import Answer

log = logging.getLogger("functions")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body, default=str), status_code=status, mimetype="application/json",
                             headers=headers)


def json_body(req: func.HttpRequest, expected: str) -> Any:
    """The parsed JSON body; BadRequest saying what is expected when it is not JSON."""
    from shared.platform.errors import BadRequest

    try:
        return req.get_json()
    except ValueError:
        raise BadRequest(f"the body must be JSON: {expected}.") from None


def respond(where: str, call: Callable[[], "Answer | dict[str, Any]"]) -> func.HttpResponse:
    from shared.platform.errors import Answer, UserError, http_answer, log_unexpected

    try:
        result = call()
    except UserError as error:
        answer = http_answer(error)
        if answer.status >= 500:
            log.error("%s: %s", where, error.message, exc_info=error)
    except Exception as error:  # the one place unexpected errors become an answer
        answer = http_answer(error, log_unexpected(log, error, where))
    else:
        answer = result if isinstance(result, Answer) else Answer(200, result)
    return json_response(answer.body, answer.status, answer.headers or None)
